;;; narherder --- narinfo store, GC and signing for Guix and Nix caches
;;;
;;; (narherder keys): keyrings of trusted public keys, signature checks,
;;; secret keys and signing.  Key objects never print their key material.

(define-module (narherder keys)
  #:use-module (narherder ffi)
  #:use-module (narherder narinfo)
  #:use-module (system foreign)
  #:use-module (system foreign-library)
  #:use-module (rnrs bytevectors)
  #:use-module (srfi srfi-9)
  #:use-module (srfi srfi-9 gnu)
  #:export (load-keyring
            keyring?
            keyring-pointer
            verify-narinfo
            valid-narinfo-signature?
            verdict-name
            load-secret-key
            secret-key?
            sign-narinfo))

(define-foreign %keyring-load uint32 "narherder_keyring_load"
  ('* size_t '* '*))
(define-foreign %verify uint32 "narherder_keyring_verify"
  ('* '* size_t '* '*))
(define-foreign %verdict-name '* "narherder_verdict_name" (uint32))
(define-foreign %secret-key-load uint32 "narherder_secret_key_load"
  ('* size_t '* '*))
(define-foreign %sign uint32 "narherder_secret_key_sign"
  ('* '* size_t '* size_t '* '*))
(define-foreign %narinfo-free void "narherder_narinfo_free" ('*))

(define (print-address name pointer port)
  (display "#<" port)
  (display name port)
  (display " " port)
  (display (number->string (pointer-address pointer) 16) port)
  (display ">" port))

;; Plain records, not `define-wrapped-pointer-type' (see (narherder store)):
;; each handle is wrapped once, when it is returned, with its finalizer.
(define-record-type <keyring>
  (%pointer->keyring pointer)
  keyring?
  (pointer %keyring-pointer))

(define-record-type <secret-key>
  (%pointer->secret-key pointer)
  secret-key?
  (pointer %secret-key-pointer))

(set-record-type-printer! <keyring>
  (lambda (keyring port)
    (print-address "narherder-keyring" (%keyring-pointer keyring) port)))

(set-record-type-printer! <secret-key>
  (lambda (key port)
    (print-address "narherder-secret-key" (%secret-key-pointer key) port)))

(define (keyring-pointer keyring)
  "Return the @code{narherder_keyring *} behind @var{keyring}, raising a
@code{wrong-type-arg} error when it is not a keyring."
  (if (keyring? keyring)
      (%keyring-pointer keyring)
      (scm-error 'wrong-type-arg 'keyring-pointer
                 "Wrong type argument (expecting a keyring): ~S"
                 (list keyring) (list keyring))))

(define (with-finalizer pointer c-name)
  (make-pointer (pointer-address pointer)
                (foreign-library-pointer (libnarherder) c-name)))

(define (load-keyring files)
  "Load a keyring of trusted public keys from the list @var{files}: Guix
@file{.pub} files, Guix ACL files (@file{/etc/guix/acl}) and Nix public key
files (@code{name:base64} lines), told apart by content.  A missing file
raises a @code{&narherder-error} with status @code{io}, a malformed one
@code{bad-key}."
  (call-with-values (lambda () (make-slices files))
    (lambda (slices bvs)
      (let ((out (make-out-buffer 2)))
        (check-status (%keyring-load (bytevector->pointer slices)
                                     (length files)
                                     (out-buffer-pointer out 0)
                                     (out-buffer-pointer out 1))
                      out 1 'load-keyring (list files))
        (keep-alive bvs)
        (%pointer->keyring (with-finalizer (out-pointer-ref out 0)
                                           "narherder_keyring_free"))))))

(define %verdicts
  #(valid corrupt-signature unauthorized-key hash-mismatch invalid-signature
    unsigned))

(define (narinfo-bytes narinfo)
  (if (narinfo? narinfo)
      (narinfo-contents-bytevector narinfo)
      (string->utf8 narinfo)))

(define (verify-narinfo keyring narinfo)
  "Check the signatures of @var{narinfo} (a narinfo record or its text)
against @var{keyring} and return the verdict: @code{valid},
@code{corrupt-signature}, @code{unauthorized-key}, @code{hash-mismatch},
@code{invalid-signature} or @code{unsigned}.  A Guix @code{Signature:} is
checked as a Guix client does, Nix @code{Sig:} lines over the fingerprint;
either kind being valid is enough.  A malformed text raises a
@code{&narherder-error} with status @code{bad-narinfo}."
  (let* ((bv (narinfo-bytes narinfo))
         (verdict (make-bytevector 4 0))
         (out (make-out-buffer 1)))
    (check-status (%verify (keyring-pointer keyring) (utf8-pointer bv)
                           (bytevector-length bv)
                           (bytevector->pointer verdict)
                           (out-buffer-pointer out 0))
                  out 0 'verify-narinfo (list narinfo))
    (keep-alive keyring)
    (let ((n (bytevector-u32-native-ref verdict 0)))
      (if (< n (vector-length %verdicts))
          (vector-ref %verdicts n)
          'unknown))))

(define (valid-narinfo-signature? keyring narinfo)
  "Return #t when @var{narinfo} (a record or its text) carries a signature
valid for @var{keyring}, #f otherwise (a bad signature is an answer, not
an error)."
  (eq? 'valid (verify-narinfo keyring narinfo)))

(define (verdict-name verdict)
  "Return the name that @command{narherder verify} prints for
@var{verdict} (a symbol returned by @code{verify-narinfo}), e.g.
@code{\"valid-signature\"}."
  (let loop ((i 0))
    (cond ((= i (vector-length %verdicts)) "unknown")
          ((eq? verdict (vector-ref %verdicts i))
           (pointer->string (%verdict-name i) -1 "UTF-8"))
          (else (loop (+ i 1))))))

(define (load-secret-key file)
  "Load the secret signing key in @var{file}: a Guix key (a
@code{(private-key (ecc …))} s-expression) or a Nix key
(@code{name:base64}).  The key object never prints its key material, and
the library wipes it when the object is collected."
  (let ((bv (string->utf8 file))
        (out (make-out-buffer 2)))
    (check-status (%secret-key-load (utf8-pointer bv) (bytevector-length bv)
                                    (out-buffer-pointer out 0)
                                    (out-buffer-pointer out 1))
                  out 1 'load-secret-key (list file))
    (%pointer->secret-key (with-finalizer (out-pointer-ref out 0)
                                          "narherder_secret_key_free"))))

(define* (sign-narinfo key narinfo #:key host)
  "Sign @var{narinfo} (a narinfo record or its text) with the secret
@var{key} and return the signed narinfo record.  A Guix key puts a
@code{Signature: 1;@var{host};…} line right after the part it signs
(replacing an existing one); a Nix key adds a @code{Sig:} line and ignores
@var{host}."
  (unless (secret-key? key)
    (scm-error 'wrong-type-arg 'sign-narinfo
               "Wrong type argument (expecting a secret key): ~S"
               (list key) (list key)))
  (let ((bv (narinfo-bytes narinfo))
        (host-bv (string->utf8 (or host "")))
        (out (make-out-buffer 2)))
    (check-status (%sign (%secret-key-pointer key) (utf8-pointer bv)
                         (bytevector-length bv) (utf8-pointer host-bv)
                         (bytevector-length host-bv)
                         (out-buffer-pointer out 0)
                         (out-buffer-pointer out 1))
                  out 1 'sign-narinfo (list narinfo))
    (keep-alive key)
    (let* ((ni (out-pointer-ref out 0))
           (signed (narinfo-pointer->narinfo ni)))
      (%narinfo-free ni)
      signed)))

(document!
 (keyring? "Return #t when @var{obj} is a keyring.")
 (secret-key? "Return #t when @var{obj} is a secret key."))
