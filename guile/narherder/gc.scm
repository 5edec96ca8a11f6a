;;; narherder --- narinfo store, GC and signing for Guix and Nix caches
;;;
;;; (narherder gc): garbage collection.

(define-module (narherder gc)
  #:use-module (narherder ffi)
  #:use-module (narherder store)
  #:use-module (system foreign)
  #:use-module (rnrs bytevectors)
  #:use-module (srfi srfi-9)
  #:export (collect-garbage
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
            gc-stats-logs-removed))

(define-foreign %gc uint32 "narherder_gc_run" ('* '* size_t '* size_t '*))

;; struct narherder_gc_options: dry_run, grace_seconds, max_delete,
;; storage_dir, storage_dir_len, force, batch_size.
(define %options-layout
  (c-struct-layout (list uint8 int64 uint64 '* size_t uint8 size_t)))

;; struct narherder_gc_stats: ten uint64_t, bool dry_run, then uint64_t
;; logs_removed.
(define %stats-layout
  (c-struct-layout (list uint64 uint64 uint64 uint64 uint64 uint64 uint64
                         uint64 uint64 uint64 uint8 uint64)))

(define-record-type <gc-stats>
  (make-gc-stats live dead deleted nar-files-deleted bytes-freed
                 nar-bytes-freed files-removed kept mark-us elapsed-us
                 dry-run? logs-removed)
  gc-stats?
  (live gc-stats-live)
  (dead gc-stats-dead)
  (deleted gc-stats-deleted)
  (nar-files-deleted gc-stats-nar-files-deleted)
  (bytes-freed gc-stats-bytes-freed)
  (nar-bytes-freed gc-stats-nar-bytes-freed)
  (files-removed gc-stats-files-removed)
  (kept gc-stats-kept)
  (mark-us gc-stats-mark-us)
  (elapsed-us gc-stats-elapsed-us)
  (dry-run? gc-stats-dry-run?)
  (logs-removed gc-stats-logs-removed))

(define* (collect-garbage store #:key dry-run? grace-seconds (max-delete 0)
                          storage-directory force? (batch-size 0))
  "Collect the garbage of @var{store} and return a @code{gc-stats} record.
Live are the closure of the roots in force over references, plus every
narinfo added within the grace period and its closure; the rest is deleted
in bounded batches.

With @var{dry-run?} nothing is deleted: the statistics say what would be.
@var{grace-seconds}: the grace period (#f: the default, 6 hours; 0: none).
@var{max-delete}: delete at most this many narinfos (0: no limit).
@var{storage-directory}: the nar storage directory, from which the nar
files of deleted narinfos, and the build logs that no narinfo needs any
more, are removed (#f: leave files alone).
@var{force?}: run even when no root is in force (otherwise that raises a
@code{&narherder-error} with status @code{invalid-argument}).
@var{batch-size}: narinfos deleted per transaction (0: the default)."
  (let* ((layout %options-layout)
         (options (make-bytevector (list-ref layout 7) 0))
         (dir-bv (and storage-directory (string->utf8 storage-directory)))
         (slayout %stats-layout)
         (stats (make-bytevector (list-ref slayout 12) 0))
         (out (make-out-buffer 1)))
    (bytevector-u8-set! options (list-ref layout 0) (bool->int dry-run?))
    (bytevector-s64-native-set! options (list-ref layout 1)
                                (or grace-seconds -1))
    (bytevector-u64-native-set! options (list-ref layout 2) max-delete)
    (when dir-bv
      (bytevector-uint-set! options (list-ref layout 3)
                            (pointer-address (bytevector->pointer dir-bv))
                            (native-endianness) (sizeof '*))
      (bytevector-uint-set! options (list-ref layout 4)
                            (bytevector-length dir-bv)
                            (native-endianness) (sizeof size_t)))
    (bytevector-u8-set! options (list-ref layout 5) (bool->int force?))
    (bytevector-uint-set! options (list-ref layout 6) batch-size
                          (native-endianness) (sizeof size_t))
    (check-status (%gc (store-pointer store) (bytevector->pointer options)
                       (bytevector-length options) (bytevector->pointer stats)
                       (bytevector-length stats) (out-buffer-pointer out 0))
                  out 0 'collect-garbage (list store))
    (keep-alive dir-bv)
    (keep-alive store)
    (apply make-gc-stats
           (append (map (lambda (i)
                          (bytevector-u64-native-ref stats
                                                     (list-ref slayout i)))
                        (iota 10))
                   (list (not (zero? (bytevector-u8-ref stats
                                                        (list-ref slayout 10))))
                         (bytevector-u64-native-ref stats
                                                    (list-ref slayout 11)))))))

(document!
 (gc-stats? "Return #t when @var{obj} is a gc-stats record.")
 (gc-stats-live
  "Return the number of stored narinfos that are live (a gc-stats field).")
 (gc-stats-dead
  "Return the number of stored narinfos that are garbage (a gc-stats field).")
 (gc-stats-deleted
  "Return the number of narinfos deleted (by a dry run: that would be) (a gc-stats field).")
 (gc-stats-nar-files-deleted
  "Return the number of nar files (distinct URLs) that no stored narinfo names any more (a gc-stats field).")
 (gc-stats-bytes-freed
  "Return the sum of the @code{FileSize}s of those nar files (a gc-stats field).")
 (gc-stats-nar-bytes-freed
  "Return the sum of the @code{NarSize}s of the deleted narinfos (a gc-stats field).")
 (gc-stats-files-removed
  "Return the number of nar files removed from the storage directory (a gc-stats field).")
 (gc-stats-kept
  "Return the number of dead narinfos kept (beyond the deletion limit, or protected by an import or root that arrived during the collection) (a gc-stats field).")
 (gc-stats-mark-us
  "Return the time spent marking, in microseconds (a gc-stats field).")
 (gc-stats-elapsed-us
  "Return the total time, in microseconds (a gc-stats field).")
 (gc-stats-dry-run?
  "Return #t when the collection was a dry run (a gc-stats field).")
 (gc-stats-logs-removed
  "Return the number of build logs removed from the storage directory because no narinfo needs them any more (by a dry run: that would be) (a gc-stats field)."))
