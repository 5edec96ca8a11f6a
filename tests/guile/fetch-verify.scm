;;; Fetch narinfos from a server the way a Guix client does, and check
;;; their Guix signatures with libgcrypt (guile-gcrypt).
;;;
;;; Usage: guile --no-auto-compile -s fetch-verify.scm HOST PORT \
;;;          KEY.pub[,KEY.pub...] HASH [HASH ...]
;;;
;;; All the `GET /HASH.narinfo' requests are written on one connection
;;; before any response is read (Guix pipelines them), then each response is
;;; read with Guile's own HTTP reader, which relies on Content-Length.  For
;;; each narinfo: its StorePath must carry the requested hash; the signed
;;; bytes are the text up to the first `Signature:' line; the signature's
;;; public key must be one of the given keys; its data hash must be the
;;; SHA-256 of the signed bytes; and libgcrypt must accept it.  Prints
;;; `HASH: VERDICT' per narinfo and exits 0 when all are valid.

(use-modules (gcrypt pk-crypto)
             (gcrypt hash)
             (gcrypt base64)
             (rnrs bytevectors)
             (web response)
             (ice-9 match)
             (ice-9 rdelim)
             (srfi srfi-1)
             (srfi srfi-11))

(define (connect-to host port)
  (let ((s (socket PF_INET SOCK_STREAM 0)))
    (connect s (make-socket-address AF_INET (inet-pton AF_INET host) port))
    s))

(define (string-split-on text separator)
  ;; Split TEXT at each occurrence of the string SEPARATOR.
  (let loop ((start 0) (out '()))
    (let ((i (string-contains text separator start)))
      (if i
          (loop (+ i (string-length separator))
                (cons (substring text start i) out))
          (reverse (cons (substring text start) out))))))

(define (signed-prefix text)
  ;; The text before the first "Signature:" line, and that line's value.
  (let ((i (if (string-prefix? "Signature: " text)
               0
               (let ((j (string-contains text "\nSignature: ")))
                 (and j (+ j 1))))))
    (if i
        (let* ((end (or (string-index text #\newline i) (string-length text)))
               (value (substring text (+ i (string-length "Signature: ")) end)))
          (values (substring text 0 i) value))
        (values text #f))))

(define (verdict hash text keys)
  (let-values (((prefix field) (signed-prefix text)))
    (cond
     ((not (string-contains text (string-append "StorePath: /gnu/store/" hash "-")))
      'wrong-item)
     ((not field) 'unsigned)
     (else
      (match (string-split-on field ";")
        (("1" host b64)
         (let* ((signature (string->canonical-sexp
                            (utf8->string (base64-decode b64))))
                (signer (find-sexp-token signature 'public-key))
                (data-hash (find-sexp-token signature 'hash))
                (digest (sha256 (string->utf8 prefix)))
                (data (bytevector->hash-data digest #:key-type 'ecc)))
           (cond
            ((not (and signer data-hash)) 'corrupt-signature)
            ((not (any (lambda (key)
                         (equal? (canonical-sexp->sexp signer)
                                 (canonical-sexp->sexp key)))
                       keys))
             'unauthorized-key)
            ((not (equal? (canonical-sexp-nth-data data-hash 2) digest))
             'hash-mismatch)
            ((verify signature data
                     (find (lambda (key)
                             (equal? (canonical-sexp->sexp signer)
                                     (canonical-sexp->sexp key)))
                           keys))
             'valid)
            (else 'invalid-signature))))
        (_ 'corrupt-signature))))))

(match (command-line)
  ((_ host port key-files hashes ..1)
   (let* ((keys (map read-file-sexp (string-split-on key-files ",")))
          (sock (connect-to host (string->number port))))
     (for-each (lambda (hash)
                 (format sock "GET /~a.narinfo HTTP/1.1\r\nHost: ~a\r\n\r\n"
                         hash host))
               hashes)
     (force-output sock)
     (let loop ((hashes hashes) (all-valid? #t))
       (match hashes
         (()
          (close-port sock)
          (exit (if all-valid? 0 1)))
         ((hash rest ...)
          (let* ((response (read-response sock))
                 (body (read-response-body response))
                 (result (if (= 200 (response-code response))
                             (verdict hash (utf8->string body) keys)
                             (response-code response))))
            (format #t "~a: ~a~%" hash result)
            (loop rest (and all-valid? (eq? result 'valid)))))))))
  (_
   (format (current-error-port)
           "usage: fetch-verify.scm HOST PORT KEY.pub[,KEY.pub...] HASH...~%")
   (exit 2)))
