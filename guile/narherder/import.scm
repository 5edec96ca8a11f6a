;;; narherder --- narinfo store, GC and signing for Guix and Nix caches
;;;
;;; (narherder import): importing narinfo files and directories.

(define-module (narherder import)
  #:use-module (narherder ffi)
  #:use-module (narherder store)
  #:use-module (narherder keys)
  #:use-module (system foreign)
  #:use-module (rnrs bytevectors)
  #:use-module (srfi srfi-9)
  #:export (import-narinfos
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
            import-stats-index-us))

(define-foreign %import uint32 "narherder_import_run"
  ('* '* size_t '* size_t '* size_t '*))

;; struct narherder_import_options: batch_size, replace, parsers,
;; storage_dir, storage_dir_len, nar_files, keyring, dry_run, bulk_load.
(define %options-layout
  (c-struct-layout (list size_t uint8 uint32 '* size_t uint32 '* uint8 uint32)))

;; struct narherder_import_stats: twelve uint64_t.
(define %stats-fields 12)

(define-record-type <import-stats>
  (make-import-stats files inserted unchanged replaced rejected
                     nar-files-placed nar-files-present nar-files-missing
                     elapsed-us checked write-us index-us)
  import-stats?
  (files import-stats-files)
  (inserted import-stats-inserted)
  (unchanged import-stats-unchanged)
  (replaced import-stats-replaced)
  (rejected import-stats-rejected)
  (nar-files-placed import-stats-nar-files-placed)
  (nar-files-present import-stats-nar-files-present)
  (nar-files-missing import-stats-nar-files-missing)
  (elapsed-us import-stats-elapsed-us)
  (checked import-stats-checked)
  (write-us import-stats-write-us)
  (index-us import-stats-index-us))

(define (symbol->number origin what table value)
  (let ((entry (assq value table)))
    (unless entry
      (raise-narherder-error 'invalid-argument origin
                             "~a must be one of ~s, not ~s"
                             what (map car table) value))
    (cdr entry)))

(define* (import-narinfos store files #:key (batch-size 0) replace?
                          (parsers 0) storage-directory (nar-files 'leave)
                          keyring dry-run? (bulk-load 'auto))
  "Import the narinfos found in @var{files} (a list of directories, walked
for @file{*.narinfo}, and files holding one or more narinfos separated by
blank lines) into @var{store}, and return an @code{import-stats} record.

Bad narinfos do not raise: they are counted in
@code{import-stats-rejected}.  The keywords: @var{batch-size} narinfos per
transaction (0: the default); @var{replace?} to replace different narinfos
stored under the same hash; @var{parsers} threads (0: the default);
@var{storage-directory}, the nar storage directory, where @var{nar-files}
(@code{leave}, @code{copy} or @code{hardlink}) places the nar files found
next to the narinfos; @var{keyring}, a keyring (see @code{load-keyring}):
only narinfos validly signed for it are imported; @var{dry-run?} checks
everything and writes nothing (the narinfos that pass are counted in
@code{import-stats-checked}); @var{bulk-load}: @code{auto}, @code{always}
or @code{never}."
  (let* ((layout %options-layout)
         (options (make-bytevector (list-ref layout 9) 0))
         (dir-bv (and storage-directory (string->utf8 storage-directory)))
         (stats (make-bytevector (* 8 %stats-fields) 0))
         (out (make-out-buffer 1))
         (ptr-set! (lambda (offset value)
                     (bytevector-uint-set! options offset value
                                           (native-endianness) (sizeof '*)))))
    (bytevector-uint-set! options (list-ref layout 0) batch-size
                          (native-endianness) (sizeof size_t))
    (bytevector-u8-set! options (list-ref layout 1) (bool->int replace?))
    (bytevector-u32-native-set! options (list-ref layout 2) parsers)
    (when dir-bv
      (ptr-set! (list-ref layout 3) (pointer-address (bytevector->pointer dir-bv)))
      (bytevector-uint-set! options (list-ref layout 4)
                            (bytevector-length dir-bv)
                            (native-endianness) (sizeof size_t)))
    (bytevector-u32-native-set!
     options (list-ref layout 5)
     (symbol->number 'import-narinfos "#:nar-files"
                     '((leave . 0) (copy . 1) (hardlink . 2)) nar-files))
    (when keyring
      (ptr-set! (list-ref layout 6) (pointer-address (keyring-pointer keyring))))
    (bytevector-u8-set! options (list-ref layout 7) (bool->int dry-run?))
    (bytevector-u32-native-set!
     options (list-ref layout 8)
     (symbol->number 'import-narinfos "#:bulk-load"
                     '((auto . 0) (always . 1) (never . 2)) bulk-load))
    (call-with-values (lambda () (make-slices files))
      (lambda (slices bvs)
        (check-status (%import (store-pointer store)
                               (bytevector->pointer slices) (length files)
                               (bytevector->pointer options)
                               (bytevector-length options)
                               (bytevector->pointer stats)
                               (bytevector-length stats)
                               (out-buffer-pointer out 0))
                      out 0 'import-narinfos (list files))
        (keep-alive bvs)))
    (keep-alive dir-bv)
    (keep-alive keyring)
    (keep-alive store)
    (apply make-import-stats
           (map (lambda (i) (bytevector-u64-native-ref stats (* 8 i)))
                (iota %stats-fields)))))

(document!
 (import-stats? "Return #t when @var{obj} is an import-stats record.")
 (import-stats-files
  "Return the number of narinfo files read (an import-stats field).")
 (import-stats-inserted
  "Return the number of narinfos stored that were not there before (an import-stats field).")
 (import-stats-unchanged
  "Return the number of narinfos already stored with the same text (an import-stats field).")
 (import-stats-replaced
  "Return the number of narinfos that replaced a different stored text (an import-stats field).")
 (import-stats-rejected
  "Return the number of narinfos (or whole files) rejected: malformed, conflicting, of another store directory or not validly signed (an import-stats field).")
 (import-stats-nar-files-placed
  "Return the number of nar files copied or linked into the storage directory (an import-stats field).")
 (import-stats-nar-files-present
  "Return the number of nar files already in the storage directory (an import-stats field).")
 (import-stats-nar-files-missing
  "Return the number of nar files that were to be placed but were not found (an import-stats field).")
 (import-stats-elapsed-us
  "Return the wall-clock time of the import, in microseconds (an import-stats field).")
 (import-stats-checked
  "Return the number of narinfos that passed every check in a dry run (an import-stats field).")
 (import-stats-write-us
  "Return the part of the time spent writing to the database, in microseconds (an import-stats field).")
 (import-stats-index-us
  "Return the part of the time spent rebuilding the reverse-edge index after a bulk load, in microseconds (an import-stats field)."))
