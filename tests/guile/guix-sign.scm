;;; Generate a Guix signing key with libgcrypt and sign messages the way
;;; `guix publish' signs narinfos.
;;;
;;; Usage: guile --no-auto-compile -s guix-sign.scm OUTPUT-DIRECTORY MESSAGE-FILE ...
;;;
;;; Writes OUTPUT-DIRECTORY/key.pub and key.sec (as `guix archive
;;; --generate-key' does: libgcrypt's text of the public-key and private-key
;;; s-expressions), and for the i-th message (counting from 0)
;;; OUTPUT-DIRECTORY/sig-i.b64: the base64 of the text of
;;; `(signature DATA SIG-VAL PUBLIC-KEY)', as in a `Signature:' line.

(use-modules (gcrypt pk-crypto)
             (gcrypt hash)
             (gcrypt base64)
             (rnrs bytevectors)
             (ice-9 binary-ports)
             (ice-9 match))

(define (file-bytes file)
  (let ((bv (call-with-input-file file get-bytevector-all #:binary #t)))
    (if (eof-object? bv) (make-bytevector 0) bv)))

(define (write-text file text)
  (call-with-output-file file (lambda (port) (display text port))))

(define (signature-text data secret public)
  ;; The signature s-expression: the data, the signature value and the
  ;; signer's public key, printed by libgcrypt.
  (canonical-sexp->string
   (string->canonical-sexp
    (string-append "(signature "
                   (canonical-sexp->string data) " "
                   (canonical-sexp->string (sign data secret)) " "
                   (canonical-sexp->string public)
                   ")"))))

(match (command-line)
  ((_ directory messages ...)
   (let* ((pair   (generate-key (string->canonical-sexp
                                 "(genkey (ecdsa (curve Ed25519) (flags rfc6979)))")))
          (public (find-sexp-token pair 'public-key))
          (secret (find-sexp-token pair 'private-key)))
     (write-text (string-append directory "/key.pub") (canonical-sexp->string public))
     (write-text (string-append directory "/key.sec") (canonical-sexp->string secret))
     (let loop ((messages messages) (i 0))
       (match messages
         (() (exit 0))
         ((message rest ...)
          (let ((data (bytevector->hash-data (sha256 (file-bytes message))
                                             #:key-type 'ecc)))
            (write-text (string-append directory "/sig-" (number->string i) ".b64")
                        (base64-encode
                         (string->utf8 (signature-text data secret public))))
            (loop rest (+ i 1))))))))
  (_
   (format (current-error-port) "usage: guix-sign.scm OUTPUT-DIRECTORY MESSAGE ...~%")
   (exit 2)))
