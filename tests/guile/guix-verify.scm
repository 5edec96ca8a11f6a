;;; Verify Guix narinfo-style signatures with libgcrypt, as a Guix client
;;; does.
;;;
;;; Usage: guile --no-auto-compile -s guix-verify.scm PUBLIC-KEY-FILE \
;;;          MESSAGE-FILE SIGNATURE-FILE [MESSAGE-FILE SIGNATURE-FILE ...]
;;;
;;; Each SIGNATURE-FILE holds the base64 of a `(signature (data ...)
;;; (sig-val ...) (public-key ...))' s-expression (what follows `1;host;' in
;;; a `Signature:' line).  For each pair, the data s-expression is built from
;;; the SHA-256 of MESSAGE-FILE, the signature's key must equal the key file,
;;; and libgcrypt's `verify' must accept.  Prints one line per pair and exits
;;; with 0 when all are valid, 1 otherwise.

(use-modules (gcrypt pk-crypto)
             (gcrypt hash)
             (gcrypt base64)
             (rnrs bytevectors)
             (ice-9 binary-ports)
             (ice-9 rdelim)
             (ice-9 match))

(define (file-bytes file)
  (let ((bv (call-with-input-file file get-bytevector-all #:binary #t)))
    (if (eof-object? bv) (make-bytevector 0) bv)))

(define (file-text file)
  (call-with-input-file file read-string))

(define (check key-file message-file signature-file)
  (let* ((key       (read-file-sexp key-file))
         (b64       (string-trim-both (file-text signature-file)))
         (signature (string->canonical-sexp
                     ;; The s-expression text is ASCII.
                     (utf8->string (base64-decode b64))))
         (data      (bytevector->hash-data (sha256 (file-bytes message-file))
                                           #:key-type 'ecc))
         (signer    (find-sexp-token signature 'public-key)))
    (cond
     ((not (and signer (equal? (canonical-sexp->sexp signer)
                               (canonical-sexp->sexp key))))
      'wrong-key)
     ((verify signature data key) 'valid)
     (else 'invalid))))

(match (command-line)
  ((_ key-file pairs ..1)
   (let loop ((pairs pairs) (all-valid? #t))
     (match pairs
       (()
        (exit (if all-valid? 0 1)))
       ((message signature rest ...)
        (let ((verdict (check key-file message signature)))
          (format #t "~a: ~a~%" message verdict)
          (loop rest (and all-valid? (eq? verdict 'valid)))))
       (_
        (format (current-error-port) "odd number of message/signature files~%")
        (exit 2)))))
  (_
   (format (current-error-port)
           "usage: guix-verify.scm KEY.pub MESSAGE SIGNATURE [MESSAGE SIGNATURE ...]~%")
   (exit 2)))
