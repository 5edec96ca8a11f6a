;;; Reads examples/deploy/guix/narherder-service.scm with Guile (the gexp
;;; syntax #~ #$ #$@ read as Guix's reader does) and checks its structure:
;;; the record, the service type and its extensions, and an operating-system
;;; that instantiates the service with fields the record defines.
;;; Usage: guile read-guix-service.scm FILE — exits non-zero on a problem.

(use-modules (ice-9 match) (srfi srfi-1))

(read-hash-extend #\~ (lambda (c port) (list 'gexp (read port))))
(read-hash-extend #\$ (lambda (c port)
                        (if (eqv? (peek-char port) #\@)
                            (begin (read-char port)
                                   (list 'ungexp-splicing (read port)))
                            (list 'ungexp (read port)))))

(define (fail fmt . args)
  (apply format (current-error-port) (string-append fmt "~%") args)
  (exit 1))

(define forms
  (call-with-input-file (cadr (command-line))
    (lambda (port)
      (let loop ((acc '()))
        (let ((x (read port)))
          (if (eof-object? x) (reverse acc) (loop (cons x acc))))))))

(define (find-form pred) (find pred forms))

(define record
  (or (find-form (match-lambda
                   (('define-record-type* '<narherder-configuration> . _) #t)
                   (_ #f)))
      (fail "no define-record-type* <narherder-configuration>")))

(define fields
  (match record
    ((_ _ _ _ _ . specs) (map car specs))))

(define service-type
  (or (find-form (match-lambda
                   (('define 'narherder-service-type ('service-type . _)) #t)
                   (_ #f)))
      (fail "no (define narherder-service-type (service-type …))")))

(define (tree-contains? tree x)
  (cond ((equal? tree x) #t)
        ((pair? tree) (or (tree-contains? (car tree) x)
                          (tree-contains? (cdr tree) x)))
        (else #f)))

(for-each (lambda (ext)
            (unless (tree-contains? service-type ext)
              (fail "narherder-service-type does not extend ~a" ext)))
          '(shepherd-root-service-type account-service-type
            activation-service-type mcron-service-type))

(define os
  (or (find-form (match-lambda (('operating-system . _) #t) (_ #f)))
      (fail "no operating-system form")))

;; Every (narherder-configuration (field value) …) uses known fields.
(define (configurations tree)
  (cond ((and (pair? tree) (eq? (car tree) 'narherder-configuration))
         (list tree))
        ((pair? tree) (append (configurations (car tree))
                              (configurations (cdr tree))))
        (else '())))

(define uses (configurations os))
(when (null? uses)
  (fail "the operating-system does not configure narherder"))
(for-each (lambda (conf)
            (for-each (lambda (clause)
                        (match clause
                          ((field _)
                           (unless (memq field fields)
                             (fail "unknown narherder-configuration field ~a" field)))
                          (_ (fail "malformed clause ~s" clause))))
                      (cdr conf)))
          uses)
(define (uses-service? tree)
  (and (pair? tree)
       (or (and (eq? (car tree) 'service)
                (pair? (cdr tree))
                (eq? (cadr tree) 'narherder-service-type))
           (uses-service? (car tree))
           (uses-service? (cdr tree)))))
(unless (uses-service? os)
  (fail "the operating-system does not use narherder-service-type"))

(format #t "~a forms; record fields: ~a~%" (length forms) fields)
