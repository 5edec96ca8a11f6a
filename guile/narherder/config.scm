;;; narherder --- narinfo store, GC and signing for Guix and Nix caches
;;;
;;; (narherder config): where the C library is.  `scripts/install' writes
;;; the absolute file name of the installed library into
;;; %narherder-library-default; packagers may patch it the same way.

(define-module (narherder config)
  #:export (%narherder-library-default
            narherder-library-file))

;; The library to load when NARHERDER_LIBRARY is unset: a bare name looked
;; up by the dynamic linker, or an absolute file name (set at install time).
(define %narherder-library-default "libnarherder")

(define (narherder-library-file)
  "Return the file name of the narherder C library that (narherder ffi)
loads: the value of the environment variable NARHERDER_LIBRARY when it is
set and not empty, else @code{%narherder-library-default}, which
@command{scripts/install} sets to the absolute file name of the installed
@file{libnarherder.so}."
  (let ((env (getenv "NARHERDER_LIBRARY")))
    (if (and env (not (string-null? env)))
        env
        %narherder-library-default)))
