;;; narherder --- narinfo store, GC and signing for Guix and Nix caches
;;;
;;; (narherder store): opening and closing stores.  A store wraps a
;;; `narherder_store' handle; `close-store!' (or leaving `call-with-store')
;;; closes its database and stops its runtime, and the handle itself is
;;; freed by a finalizer once the store is unreachable (closed or not).

(define-module (narherder store)
  #:use-module (narherder ffi)
  #:use-module (system foreign)
  #:use-module (system foreign-library)
  #:use-module (rnrs bytevectors)
  #:use-module (srfi srfi-9)
  #:use-module (srfi srfi-9 gnu)
  #:export (store?
            open-store
            close-store!
            call-with-store
            store-directory
            store-backend
            store-pointer))

;; A plain record rather than `define-wrapped-pointer-type': that one keeps
;; every pointer it wrapped in a weak-value table whose dead entries are only
;; swept when the table is next used, so an unreachable store's pointer (and
;; its finalizer) would linger until another store is opened.  Each handle is
;; wrapped exactly once, at open, so no such table is needed.
(define-record-type <store>
  (%pointer->store pointer)
  store?
  (pointer %store-pointer))

(set-record-type-printer! <store>
  (lambda (store port)
    (display "#<narherder-store " port)
    (display (number->string (pointer-address (%store-pointer store)) 16) port)
    (display ">" port)))

(define (store-pointer store)
  "Return the @code{narherder_store *} behind @var{store}, raising a
@code{wrong-type-arg} error when @var{store} is not a store."
  (if (store? store)
      (%store-pointer store)
      (scm-error 'wrong-type-arg 'store-pointer
                 "Wrong type argument (expecting a narherder store): ~S"
                 (list store) (list store))))

(define-foreign %open uint32 "narherder_store_open"
  ('* size_t '* size_t '* '*))
(define-foreign %close uint32 "narherder_store_close" ('* '*))
(define-foreign %store-dir uint32 "narherder_store_dir" ('* '* '*))
(define-foreign %backend uint32 "narherder_store_backend" ('* '* '*))
(define-foreign %string-free void "narherder_string_free" ('*))

;; struct narherder_store_options
(define %options-layout
  (c-struct-layout (list '* size_t uint32 uint32 size_t)))

(define %store-free-pointer
  (delay (foreign-library-pointer (libnarherder) "narherder_store_free")))

(define* (open-store url #:key store-directory (max-connections 0)
                     (fast-reads? #t) read-cache-bytes)
  "Open the narherder store at database @var{url} (@code{sqlite://FILE},
@code{sqlite:FILE}, @code{postgres://…}), creating an SQLite database and
applying schema migrations as needed, and return it.

@var{store-directory} (e.g. @code{\"/nix/store\"}) is recorded by a new
database and must match an existing one's; by default any is accepted
(a new database records @code{/gnu/store}).  @var{max-connections} bounds
the database pool (0: the default).  With @var{fast-reads?} false, SQLite
lookups go through the pool instead of raw read connections and a cache;
@var{read-cache-bytes} sets that cache's budget (#f: 64 MiB).

Raise a @code{&narherder-error} on failure, e.g. with status
@code{invalid-argument} for a bad URL or @code{store} for another store
directory."
  (let* ((url-bv (string->utf8 url))
         (dir-bv (and store-directory (string->utf8 store-directory)))
         (layout %options-layout)
         (options (make-bytevector (list-ref layout 5) 0))
         (out (make-out-buffer 2)))
    (when dir-bv
      (bytevector-uint-set! options (list-ref layout 0)
                            (pointer-address (bytevector->pointer dir-bv))
                            (native-endianness) (sizeof '*))
      (bytevector-uint-set! options (list-ref layout 1)
                            (bytevector-length dir-bv)
                            (native-endianness) (sizeof size_t)))
    (bytevector-u32-native-set! options (list-ref layout 2) max-connections)
    (bytevector-u32-native-set! options (list-ref layout 3)
                                (if fast-reads? 0 1))
    (when read-cache-bytes
      (bytevector-uint-set! options (list-ref layout 4) read-cache-bytes
                            (native-endianness) (sizeof size_t)))
    (check-status (%open (utf8-pointer url-bv) (bytevector-length url-bv)
                         (bytevector->pointer options)
                         (bytevector-length options)
                         (out-buffer-pointer out 0)
                         (out-buffer-pointer out 1))
                  out 1 'open-store (list url))
    (keep-alive dir-bv)
    ;; The finalizer, a C function, is attached once to the fresh pointer.
    (%pointer->store (make-pointer (pointer-address (out-pointer-ref out 0))
                                   (force %store-free-pointer)))))

(define (close-store! store)
  "Close @var{store}: wait for calls in progress, close its database
connections and stop its runtime.  Later calls on it raise a
@code{&narherder-error} with status @code{closed}; closing twice is
allowed.  The handle's memory is freed when @var{store} is collected."
  (let ((out (make-out-buffer 1)))
    (check-status (%close (store-pointer store) (out-buffer-pointer out 0))
                  out 0 'close-store! (list store))
    (keep-alive store)
    *unspecified*))

(define (call-with-store url proc . options)
  "Open the store at @var{url} (with the keyword @var{options} of
@code{open-store}), call @var{proc} with it and return its values,
closing the store when @var{proc} returns or exits non-locally."
  (let ((store (apply open-store url options)))
    (dynamic-wind
      (const #t)
      (lambda () (proc store))
      (lambda () (close-store! store)))))

(define (store-directory store)
  "Return the store directory that @var{store} serves, e.g.
@code{\"/gnu/store\"}."
  (let ((out (make-out-buffer 2)))
    (check-status (%store-dir (store-pointer store) (out-buffer-pointer out 0)
                              (out-buffer-pointer out 1))
                  out 1 'store-directory (list store))
    (keep-alive store)
    (let* ((ptr (out-pointer-ref out 0))
           (dir (pointer->string ptr -1 "UTF-8")))
      (%string-free ptr)
      dir)))

(define (store-backend store)
  "Return the database engine of @var{store}: the symbol @code{sqlite} or
@code{postgres}."
  (let ((out (make-out-buffer 2)))
    (check-status (%backend (store-pointer store) (out-buffer-pointer out 0)
                            (out-buffer-pointer out 1))
                  out 1 'store-backend (list store))
    (keep-alive store)
    (string->symbol (pointer->string (out-pointer-ref out 0) -1 "UTF-8"))))

(document!
 (store? "Return #t when @var{obj} is a narherder store (open or closed)."))
