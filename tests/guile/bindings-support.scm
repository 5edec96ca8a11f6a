;;; Helpers of the SRFI-64 suites tests/guile/bindings-*.scm (run by
;;; tests/guile_bindings.rs).  The environment gives:
;;;   NARHERDER_LIBRARY     the freshly built libnarherder.so
;;;   NARHERDER_TEST_URL    a fresh, empty database for this run
;;;   NARHERDER_TEST_DATA   tests/data
;;;   NARHERDER_TEST_TMP    a temporary directory of this run
;;;   NARHERDER_TEST_ROOT   the repository (for examples/)

(define-module (bindings-support)
  #:use-module (narherder)
  #:use-module (srfi srfi-64)
  #:use-module (ice-9 rdelim)
  #:use-module (ice-9 ftw)
  #:use-module (ice-9 exceptions)
  #:export (env
            data-file
            tmp-file
            read-file
            guix-narinfo-files
            narinfo-field
            narinfo-field-values
            run-suite
            error-status
            error-parts
            with-timeout-loop))

(define (env name)
  (or (getenv name)
      (begin
        (format (current-error-port) "~a is not set (run through cargo test --test guile_bindings)~%" name)
        (exit 2))))

(define (data-file . parts)
  (string-join (cons (env "NARHERDER_TEST_DATA") parts) "/"))

(define (tmp-file name)
  (string-append (env "NARHERDER_TEST_TMP") "/" name))

(define (read-file file)
  (call-with-input-file file read-string))

(define (guix-narinfo-files)
  (map (lambda (f) (data-file "guix" f))
       (sort (scandir (data-file "guix")
                      (lambda (f) (string-suffix? ".narinfo" f)))
             string<?)))

(define (narinfo-field-values text key)
  "The values of every KEY line of TEXT, in order (parsed independently of
narherder, to check its records)."
  (let ((prefix (string-append key ": ")))
    (filter-map* (lambda (line)
                   (and (string-prefix? prefix line)
                        (substring line (string-length prefix))))
                 (string-split text #\newline))))

(define (filter-map* f lst)
  (let loop ((lst lst) (acc '()))
    (if (null? lst)
        (reverse acc)
        (let ((v (f (car lst))))
          (loop (cdr lst) (if v (cons v acc) acc))))))

(define (narinfo-field text key)
  (let ((values (narinfo-field-values text key)))
    (and (pair? values) (car values))))

(define (error-status thunk)
  "Call THUNK; return the status of the &narherder-error it raises, or
'no-error."
  (with-exception-handler
      (lambda (e)
        (if (narherder-error? e) (narherder-error-status e) (raise-exception e)))
    (lambda () (thunk) 'no-error)
    #:unwind? #t))

(define (error-parts thunk)
  "Call THUNK; return (STATUS ORIGIN MESSAGE IRRITANTS) of the
&narherder-error it raises, or #f."
  (with-exception-handler
      (lambda (e)
        (if (narherder-error? e)
            (list (narherder-error-status e)
                  (exception-origin e)
                  (exception-message e)
                  (exception-irritants e))
            (raise-exception e)))
    (lambda () (thunk) #f)
    #:unwind? #t))

(define (with-timeout-loop seconds thunk)
  "Call THUNK until it returns true or SECONDS pass; return its last value."
  (let ((deadline (+ (current-time) seconds)))
    (let loop ()
      (or (thunk)
          (if (> (current-time) deadline)
              #f
              (begin (usleep 20000) (loop)))))))

(define (run-suite name thunk)
  "Run THUNK inside an SRFI-64 group NAME and exit non-zero on failure."
  (test-begin name)
  (thunk)
  (let* ((runner (test-runner-current))
         (failed (+ (test-runner-fail-count runner)
                    (test-runner-xpass-count runner)))
         (passed (test-runner-pass-count runner)))
    (test-end name)
    (format #t "~a: ~a passed, ~a failed~%" name passed failed)
    (exit (if (and (zero? failed) (positive? passed)) 0 1))))
