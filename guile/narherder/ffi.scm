;;; narherder --- narinfo store, GC and signing for Guix and Nix caches
;;;
;;; (narherder ffi): the C library behind the other modules.  It is loaded
;;; lazily (so that modules compile without it), its ABI version is checked
;;; once, and a failed call becomes a &narherder-error exception carrying the
;;; status, the origin (the Scheme procedure), the library's message and the
;;; irritants.  The helpers here move strings, pointers and structs across
;;; the boundary; other modules build the public API on them.

(define-module (narherder ffi)
  #:use-module (narherder config)
  #:use-module (system foreign)
  #:use-module (system foreign-library)
  #:use-module (rnrs bytevectors)
  #:use-module (ice-9 exceptions)
  #:export (%narherder-abi-version
            libnarherder
            define-foreign
            narherder-abi-version
            narherder-version

            &narherder-error
            make-narherder-error
            narherder-error?
            narherder-error-status
            status->symbol
            raise-narherder-error
            check-status

            make-out-buffer
            out-buffer-pointer
            out-pointer-ref
            out-size-ref
            utf8-pointer
            pointer->utf8
            pointer->utf8/null
            make-slices
            c-struct-layout
            bool->int
            keep-alive
            document!))

;; The ABI version these modules were written for (NARHERDER_ABI_VERSION).
(define %narherder-abi-version 1)

;;;
;;; Errors.
;;;

(define-exception-type &narherder-error &error
  make-narherder-error narherder-error?
  (status narherder-error-status))

;; Status numbers of enum narherder_status (stable, never reused), by index.
(define %statuses
  #(ok panic forked null-argument invalid-argument bad-narinfo not-found
    conflict database io closed bad-key signature store runtime))

(define (status->symbol status)
  "Return the symbol naming the C status number @var{status}, e.g.
@code{not-found} for @code{NARHERDER_STATUS_NOT_FOUND}, or @code{unknown}
for a number that is no status."
  (if (and (exact-integer? status) (>= status 0)
           (< status (vector-length %statuses)))
      (vector-ref %statuses status)
      'unknown))

(define (raise-narherder-error status origin message . irritants)
  "Raise a @code{&narherder-error} with @var{status} (a symbol), whose
origin is @var{origin} (a symbol naming the procedure), with
@var{message} and @var{irritants}."
  (raise-exception
   (make-exception (make-narherder-error status)
                   (make-exception-with-origin origin)
                   (make-exception-with-message message)
                   (make-exception-with-irritants irritants))))

;;;
;;; The library.
;;;

(define %library
  (delay
    (let* ((file (narherder-library-file))
           (lib (catch #t
                  (lambda () (load-foreign-library file))
                  (lambda (key . args)
                    (raise-narherder-error
                     'not-found 'libnarherder
                     "cannot load the narherder C library ~s (set NARHERDER_LIBRARY or install it with scripts/install)"
                     file))))
           (abi ((pointer->procedure uint32
                                     (foreign-library-pointer
                                      lib "narherder_abi_version")
                                     '()))))
      (unless (= abi %narherder-abi-version)
        (raise-narherder-error
         'abi-mismatch 'libnarherder
         "~a has C ABI version ~a but these modules need version ~a"
         file abi %narherder-abi-version))
      lib)))

(define (libnarherder)
  "Return the foreign library object of @file{libnarherder}, loading it on
the first call (see @code{narherder-library-file}).  Raise a
@code{&narherder-error} with status @code{not-found} when it cannot be
loaded, or @code{abi-mismatch} when its ABI version is not the one these
modules were written for."
  (force %library))

(define-syntax define-foreign
  (lambda (s)
    "Define NAME as a procedure calling the C function C-NAME of
libnarherder, bound on the first call."
    (syntax-case s ()
      ((_ name return c-name (type ...))
       (with-syntax (((arg ...) (generate-temporaries #'(type ...))))
         #'(define name
             (let ((proc #f))
               (lambda (arg ...)
                 (unless proc
                   (set! proc (pointer->procedure
                               return
                               (foreign-library-pointer (libnarherder) c-name)
                               (list type ...))))
                 (proc arg ...)))))))))

(define-foreign %abi-version uint32 "narherder_abi_version" ())
(define-foreign %version '* "narherder_version" ())
(define-foreign %error-message '* "narherder_error_message" ('*))
(define-foreign %error-free void "narherder_error_free" ('*))

(define (narherder-abi-version)
  "Return the C ABI version of the loaded library (the modules check at
load time that it is the one they were written for)."
  (%abi-version))

(define (narherder-version)
  "Return the version of the loaded narherder library, e.g. @code{\"0.1.0\"}."
  (pointer->string (%version) -1 "UTF-8"))

;;;
;;; Buffers for out-parameters.
;;;

(define %pointer-size (sizeof '*))

(define (make-out-buffer n)
  "Return a zeroed bytevector of @var{n} pointer-sized slots, for
out-parameters (slot 0 is usually the output, the last the error)."
  (make-bytevector (* n %pointer-size) 0))

(define (out-buffer-pointer buffer index)
  "Return a pointer to slot @var{index} of @var{buffer}."
  (bytevector->pointer buffer (* index %pointer-size)))

(define out-pointer-ref
  (if (= %pointer-size 8)
      (lambda (buffer index)
        "Return the pointer stored in slot @var{index} of @var{buffer}."
        (make-pointer (bytevector-u64-native-ref buffer (* 8 index))))
      (lambda (buffer index)
        "Return the pointer stored in slot @var{index} of @var{buffer}."
        (make-pointer (bytevector-u32-native-ref buffer (* 4 index))))))

(define out-size-ref
  (if (= %pointer-size 8)
      (lambda (buffer index)
        "Return the size_t stored in slot @var{index} of @var{buffer}."
        (bytevector-u64-native-ref buffer (* 8 index)))
      (lambda (buffer index)
        "Return the size_t stored in slot @var{index} of @var{buffer}."
        (bytevector-u32-native-ref buffer (* 4 index)))))

(define (check-status status buffer index origin irritants)
  "Return #t when @var{status} is 0 (OK).  Otherwise read the error object
from slot @var{index} of @var{buffer} (where it was passed as
@code{error_out}), free it and raise a @code{&narherder-error} with its
status and message, @var{origin} and the list @var{irritants}."
  (if (eqv? status 0)
      #t
      (let* ((err (out-pointer-ref buffer index))
             (message (if (null-pointer? err)
                          "narherder call failed"
                          (pointer->string (%error-message err) -1 "UTF-8"))))
        (%error-free err)
        (raise-exception
         (make-exception (make-narherder-error (status->symbol status))
                         (make-exception-with-origin origin)
                         (make-exception-with-message message)
                         (make-exception-with-irritants irritants))))))

;;;
;;; Strings and structs.
;;;

(define (utf8-pointer bv)
  "Return a pointer to the bytes of bytevector @var{bv}, or the null
pointer when it is empty (the C ABI allows NULL with length 0)."
  (if (zero? (bytevector-length bv))
      %null-pointer
      (bytevector->pointer bv)))

(define (pointer->utf8 pointer len)
  "Return the string of @var{len} UTF-8 bytes at @var{pointer}."
  (pointer->string pointer len "UTF-8"))

(define (pointer->utf8/null pointer)
  "Return the NUL-terminated UTF-8 string at @var{pointer}, or #f when it
is the null pointer."
  (if (null-pointer? pointer)
      #f
      (pointer->string pointer -1 "UTF-8")))

(define (make-slices strings)
  "Return a bytevector holding an array of @code{narherder_slice} structs,
one per string of the list @var{strings} (each encoded as UTF-8), and the
bytevector of their bytes it points into (keep it alive until the call
returns)."
  (let* ((bvs (map string->utf8 strings))
         (n (length bvs))
         (bytes (make-bytevector (max 1 (apply + (map bytevector-length bvs)))
                                 0))
         (base (pointer-address (bytevector->pointer bytes)))
         (slices (make-bytevector (max 1 (* n 2 %pointer-size)) 0))
         (put! (if (= %pointer-size 8)
                   bytevector-u64-native-set!
                   bytevector-u32-native-set!)))
    (let loop ((bvs bvs) (i 0) (offset 0))
      (unless (null? bvs)
        (let* ((bv (car bvs))
               (len (bytevector-length bv)))
          (bytevector-copy! bv 0 bytes offset len)
          (put! slices (* i 2 %pointer-size) (if (zero? len) 0 (+ base offset)))
          (put! slices (* (+ 1 (* i 2)) %pointer-size) len)
          (loop (cdr bvs) (+ i 1) (+ offset len)))))
    (values slices bytes)))

(define (c-struct-layout types)
  "Return the list of field offsets of a C struct whose fields have the
foreign @var{types} (C @code{bool} is @code{uint8}), followed by its size
(trailing padding included), as the C compiler lays it out."
  (let loop ((types types) (offset 0) (align 1) (offsets '()))
    (if (null? types)
        (let ((size (* align (quotient (+ offset align -1) align))))
          (reverse (cons size offsets)))
        (let* ((a (alignof (car types)))
               (start (* a (quotient (+ offset a -1) a))))
          (loop (cdr types) (+ start (sizeof (car types))) (max align a)
                (cons start offsets))))))

(define (bool->int x)
  "Return 1 when @var{x} is true, else 0 (for C @code{bool} fields)."
  (if x 1 0))

;; Referencing a handle after the call that used its raw pointer keeps the
;; handle (and its finalizer) from being collected during the call.  The
;; binding is mutable so that the compiler cannot inline the call away.
(define (keep-alive obj)
  "Return @var{obj}; calling it after a foreign call keeps @var{obj} alive
until then."
  obj)
(set! keep-alive keep-alive)

(define-syntax-rule (document! (procedure doc) ...)
  (begin
    (set-procedure-property! procedure 'documentation doc)
    ...))

(document!
 (narherder-error?
  "Return #t when @var{obj} is a @code{&narherder-error} exception (or a
compound exception that holds one).")
 (narherder-error-status
  "Return the status of the @code{&narherder-error} @var{exception}: a
symbol such as @code{not-found}, @code{bad-narinfo}, @code{conflict},
@code{closed} or @code{forked} (the C status names, lower-case, without
their @code{NARHERDER_STATUS_} prefix), or @code{abi-mismatch}.")
 (make-narherder-error
  "Return a @code{&narherder-error} exception with @var{status}."))
