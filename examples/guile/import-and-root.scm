;;; import-and-root.scm --- import narinfos, set a root, see what GC would do.
;;;
;;;   guile -L guile examples/guile/import-and-root.scm DATABASE-URL \
;;;         DIRECTORY ROOT-NAME ITEM...
;;;
;;; Imports every narinfo under DIRECTORY into the store at DATABASE-URL,
;;; replaces the item set of the root ROOT-NAME by the ITEMs (store paths,
;;; base names or hash parts), then runs a garbage collection dry run with
;;; no grace period and prints what it would delete.  Nothing is deleted.

(use-modules (narherder)
             (ice-9 exceptions)
             (ice-9 match))

(define (main args)
  (match args
    ((_ url directory root items ..1)
     (call-with-store url
       (lambda (store)
         (let ((stats (import-narinfos store (list directory))))
           (format #t "imported: ~a new, ~a unchanged, ~a rejected (~a files)~%"
                   (import-stats-inserted stats) (import-stats-unchanged stats)
                   (import-stats-rejected stats) (import-stats-files stats)))
         (set-root! store root items)
         (for-each (lambda (r)
                     (format #t "root ~a: ~a items, ~a stored~%"
                             (root-name r) (length (root-items r))
                             (length (filter root-item-store-path (root-items r)))))
                   (store-roots store))
         (let ((gc (collect-garbage store #:dry-run? #t #:grace-seconds 0)))
           (format #t "gc dry run: ~a live, ~a dead, would delete ~a narinfos \
(~a nar bytes, ~a nar files, ~a file bytes)~%"
                   (gc-stats-live gc) (gc-stats-dead gc) (gc-stats-deleted gc)
                   (gc-stats-nar-bytes-freed gc) (gc-stats-nar-files-deleted gc)
                   (gc-stats-bytes-freed gc))))))
    ((program . _)
     (format (current-error-port)
             "usage: ~a DATABASE-URL DIRECTORY ROOT-NAME ITEM...~%" program)
     (exit 2))))

(with-exception-handler
    (lambda (e)
      (if (narherder-error? e)
          (begin
            (format (current-error-port) "import-and-root: ~a: ~a~%"
                    (narherder-error-status e) (exception-message e))
            (exit 1))
          (raise-exception e)))
  (lambda () (main (command-line)))
  #:unwind? #t)
