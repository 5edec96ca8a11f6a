;;; narherder --- narinfo store, GC and signing for Guix and Nix caches
;;;
;;; (narherder): the whole Scheme API of narherder in one module.  See
;;; doc/guile-api.md for the reference.

(define-module (narherder)
  #:use-module (narherder config)
  #:use-module (narherder ffi)
  #:use-module (narherder store)
  #:use-module (narherder narinfo)
  #:use-module (narherder import)
  #:use-module (narherder roots)
  #:use-module (narherder gc)
  #:use-module (narherder analytics)
  #:use-module (narherder keys)
  #:re-export (;; (narherder config), (narherder ffi)
               narherder-library-file
               narherder-version
               narherder-abi-version
               &narherder-error
               narherder-error?
               narherder-error-status

               ;; (narherder store)
               store?
               open-store
               close-store!
               call-with-store
               store-directory
               store-backend

               ;; (narherder narinfo)
               narinfo?
               narinfo-contents
               narinfo-contents-bytevector
               narinfo-path
               narinfo-hash-part
               narinfo-hash
               narinfo-size
               narinfo-references
               narinfo-deriver
               narinfo-system
               narinfo-ca
               narinfo-uris
               narinfo-compressions
               narinfo-file-sizes
               narinfo-file-hashes
               narinfo-signature
               narinfo-sigs
               parse-narinfo
               lookup-narinfo
               lookup-narinfo-bytes!
               lookup-narinfos
               narinfos-exist
               add-narinfo!
               remove-narinfo!
               store-path-hash-part

               ;; (narherder import)
               import-narinfos
               import-stats?
               import-stats-files
               import-stats-inserted
               import-stats-unchanged
               import-stats-replaced
               import-stats-rejected
               import-stats-nar-files-placed
               import-stats-nar-files-present
               import-stats-nar-files-missing
               import-stats-elapsed-us
               import-stats-checked
               import-stats-write-us
               import-stats-index-us

               ;; (narherder roots)
               add-root!
               set-root!
               remove-root!
               store-roots
               root?
               root-name
               root-expires-at
               root-updated-at
               root-items
               root-item?
               root-item-hash-part
               root-item-store-path

               ;; (narherder gc)
               collect-garbage
               gc-stats?
               gc-stats-live
               gc-stats-dead
               gc-stats-deleted
               gc-stats-nar-files-deleted
               gc-stats-bytes-freed
               gc-stats-nar-bytes-freed
               gc-stats-files-removed
               gc-stats-kept
               gc-stats-mark-us
               gc-stats-elapsed-us
               gc-stats-dry-run?
               gc-stats-logs-removed

               ;; (narherder analytics)
               record-requests!
               analytics-report
               analytics-report?
               analytics-report-narinfo-hits
               analytics-report-narinfo-misses
               analytics-report-nar-downloads
               analytics-report-never-requested
               analytics-report-top
               analytics-report-missed

               ;; (narherder keys)
               load-keyring
               keyring?
               verify-narinfo
               valid-narinfo-signature?
               verdict-name
               load-secret-key
               secret-key?
               sign-narinfo))
