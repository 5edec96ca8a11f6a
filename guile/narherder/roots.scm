;;; narherder --- narinfo store, GC and signing for Guix and Nix caches
;;;
;;; (narherder roots): named GC roots.

(define-module (narherder roots)
  #:use-module (narherder ffi)
  #:use-module (narherder store)
  #:use-module (system foreign)
  #:use-module (rnrs bytevectors)
  #:use-module (srfi srfi-9)
  #:export (add-root!
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
            root-item-store-path))

(define-foreign %add uint32 "narherder_roots_add"
  ('* '* size_t '* size_t int64 '*))
(define-foreign %set uint32 "narherder_roots_set"
  ('* '* size_t '* size_t int64 '*))
(define-foreign %remove uint32 "narherder_roots_remove"
  ('* '* size_t '* '*))
(define-foreign %list uint32 "narherder_roots_list" ('* '* '*))
(define-foreign %count size_t "narherder_root_list_count" ('*))
(define-foreign %name '* "narherder_root_list_name" ('* size_t))
(define-foreign %expires-at int64 "narherder_root_list_expires_at"
  ('* size_t))
(define-foreign %updated-at int64 "narherder_root_list_updated_at"
  ('* size_t))
(define-foreign %items-count size_t "narherder_root_list_items_count"
  ('* size_t))
(define-foreign %item-hash '* "narherder_root_list_item_hash"
  ('* size_t size_t))
(define-foreign %item-store-path '* "narherder_root_list_item_store_path"
  ('* size_t size_t))
(define-foreign %list-free void "narherder_root_list_free" ('*))

(define-record-type <root>
  (make-root name expires-at updated-at items)
  root?
  (name root-name)
  (expires-at root-expires-at)
  (updated-at root-updated-at)
  (items root-items))

(define-record-type <root-item>
  (make-root-item hash-part store-path)
  root-item?
  (hash-part root-item-hash-part)
  (store-path root-item-store-path))

(define (update-root call origin store name items expires-at)
  (let ((name-bv (string->utf8 name))
        (out (make-out-buffer 1)))
    (call-with-values (lambda () (make-slices items))
      (lambda (slices bvs)
        (check-status (call (store-pointer store) (utf8-pointer name-bv)
                            (bytevector-length name-bv)
                            (bytevector->pointer slices) (length items)
                            expires-at (out-buffer-pointer out 0))
                      out 0 origin (list name items))
        (keep-alive bvs)))
    (keep-alive store)
    *unspecified*))

(define* (add-root! store name items #:key expires-at)
  "Add @var{items} (a list of store paths, base names or hash parts; items
not stored yet are allowed) to the root @var{name} of @var{store},
creating it if needed.  @var{expires-at} (seconds since the Unix epoch)
sets its expiry; #f keeps the root's expiry (a new root never expires).
A bad name or item raises a @code{&narherder-error} with status
@code{invalid-argument}."
  (update-root %add 'add-root! store name items (or expires-at -1)))

(define* (set-root! store name items #:key expires-at)
  "Replace the whole item set of the root @var{name} of @var{store} by
@var{items} (possibly empty), and its expiry by @var{expires-at} (seconds
since the Unix epoch, #f: never), in one transaction."
  (update-root %set 'set-root! store name items (or expires-at -1)))

(define (remove-root! store name)
  "Remove the root @var{name} from @var{store}; return #t when it existed,
#f otherwise."
  (let ((name-bv (string->utf8 name))
        (removed (make-bytevector 1 0))
        (out (make-out-buffer 1)))
    (check-status (%remove (store-pointer store) (utf8-pointer name-bv)
                           (bytevector-length name-bv)
                           (bytevector->pointer removed)
                           (out-buffer-pointer out 0))
                  out 0 'remove-root! (list name))
    (keep-alive store)
    (not (zero? (bytevector-u8-ref removed 0)))))

(define (store-roots store)
  "Return the roots of @var{store}, sorted by name, as a list of
@code{root} records; each root's items (@code{root-item} records) are
sorted by hash part.  @code{root-expires-at} is #f for a root that never
expires; @code{root-item-store-path} is #f for an item not stored."
  (let ((out (make-out-buffer 2)))
    (check-status (%list (store-pointer store) (out-buffer-pointer out 0)
                         (out-buffer-pointer out 1))
                  out 1 'store-roots (list store))
    (keep-alive store)
    (let* ((list (out-pointer-ref out 0))
           (roots
            (map (lambda (i)
                   (let ((expires (%expires-at list i)))
                     (make-root (pointer->utf8/null (%name list i))
                                (and (>= expires 0) expires)
                                (%updated-at list i)
                                (map (lambda (j)
                                       (make-root-item
                                        (pointer->utf8/null (%item-hash list i j))
                                        (pointer->utf8/null
                                         (%item-store-path list i j))))
                                     (iota (%items-count list i))))))
                 (iota (%count list)))))
      (%list-free list)
      roots)))

(document!
 (root? "Return #t when @var{obj} is a root record.")
 (root-name "Return the name of @var{root}, e.g. @code{\"channel/master\"}.")
 (root-expires-at
  "Return when @var{root} expires (seconds since the Unix epoch), or #f
when it never does.")
 (root-updated-at
  "Return when @var{root} was last changed (seconds since the Unix epoch).")
 (root-items
  "Return the items of @var{root}: a list of root-item records sorted by
hash part.")
 (root-item? "Return #t when @var{obj} is a root-item record.")
 (root-item-hash-part "Return the hash part of the root item @var{item}.")
 (root-item-store-path
  "Return the store path of the root item @var{item} when its narinfo is
stored, else #f."))
