;;; narherder --- narinfo store, GC and signing for Guix and Nix caches
;;;
;;; (narherder narinfo): narinfos as records, and the calls that parse,
;;; look up, add and remove them.  A record holds the narinfo's text, copied
;;; out of the C object (which is freed at once); its fields are parsed from
;;; that text by the library on the first accessor call and kept.  The
;;; accessors bear the names of Guix's own <narinfo> accessors.

(define-module (narherder narinfo)
  #:use-module (narherder ffi)
  #:use-module (narherder store)
  #:use-module (system foreign)
  #:use-module (rnrs bytevectors)
  #:use-module (srfi srfi-9)
  #:use-module (srfi srfi-9 gnu)
  #:export (narinfo?
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

            narinfo-pointer->narinfo))

(define-foreign %parse uint32 "narherder_narinfo_parse" ('* size_t '* '*))
(define-foreign %add uint32 "narherder_narinfo_add"
  ('* '* size_t uint32 '* '*))
(define-foreign %get uint32 "narherder_narinfo_get" ('* '* size_t '* '*))
(define-foreign %remove uint32 "narherder_narinfo_remove"
  ('* '* size_t '* '*))
(define-foreign %free void "narherder_narinfo_free" ('*))
(define-foreign %text '* "narherder_narinfo_text" ('* '*))
(define-foreign %store-path '* "narherder_narinfo_store_path" ('*))
(define-foreign %hash '* "narherder_narinfo_hash" ('*))
(define-foreign %nar-hash '* "narherder_narinfo_nar_hash" ('*))
(define-foreign %nar-size uint64 "narherder_narinfo_nar_size" ('*))
(define-foreign %references-count size_t
  "narherder_narinfo_references_count" ('*))
(define-foreign %reference '* "narherder_narinfo_reference" ('* size_t))
(define-foreign %deriver '* "narherder_narinfo_deriver" ('*))
(define-foreign %system '* "narherder_narinfo_system" ('*))
(define-foreign %ca '* "narherder_narinfo_ca" ('*))
(define-foreign %files-count size_t "narherder_narinfo_files_count" ('*))
(define-foreign %file-url '* "narherder_narinfo_file_url" ('* size_t))
(define-foreign %file-compression '* "narherder_narinfo_file_compression"
  ('* size_t))
(define-foreign %file-size int64 "narherder_narinfo_file_size" ('* size_t))
(define-foreign %file-hash '* "narherder_narinfo_file_hash" ('* size_t))
(define-foreign %signature '* "narherder_narinfo_signature" ('*))
(define-foreign %sigs-count size_t "narherder_narinfo_sigs_count" ('*))
(define-foreign %sig '* "narherder_narinfo_sig" ('* size_t))
(define-foreign %get-many uint32 "narherder_narinfo_get_many"
  ('* '* size_t '* '*))
(define-foreign %batch-count size_t "narherder_narinfo_batch_count" ('*))
(define-foreign %batch-free void "narherder_narinfo_batch_free" ('*))
(define-foreign %exists-many uint32 "narherder_narinfo_exists_many"
  ('* '* size_t '* '*))

;;;
;;; The record.
;;;

;; BYTES is the text as UTF-8, copied out of the library; CONTENTS is the
;; text as a string, decoded on the first `narinfo-contents' call; FIELDS is
;; #f until an accessor needs it, then a vector (see `copy-fields').  Filling
;; either twice from two threads is harmless.
(define-record-type <narinfo>
  (%make-narinfo bytes contents fields)
  narinfo?
  (bytes narinfo-bytes-field)
  (contents narinfo-contents-field set-narinfo-contents-field!)
  (fields narinfo-fields-field set-narinfo-fields-field!))

(define (copy-fields ni)
  "Copy the fields of the C narinfo NI into a vector."
  (define (strings count ref)
    (let loop ((i (- count 1)) (acc '()))
      (if (< i 0) acc (loop (- i 1) (cons (ref i) acc)))))
  (let ((files (%files-count ni)))
    (vector (pointer->utf8/null (%store-path ni))
            (pointer->utf8/null (%hash ni))
            (pointer->utf8/null (%nar-hash ni))
            (%nar-size ni)
            (strings (%references-count ni)
                     (lambda (i) (pointer->utf8/null (%reference ni i))))
            (pointer->utf8/null (%deriver ni))
            (pointer->utf8/null (%system ni))
            (pointer->utf8/null (%ca ni))
            (strings files (lambda (i) (pointer->utf8/null (%file-url ni i))))
            (strings files
                     (lambda (i) (pointer->utf8/null (%file-compression ni i))))
            (strings files (lambda (i)
                             (let ((size (%file-size ni i)))
                               (and (>= size 0) size))))
            (strings files
                     (lambda (i) (pointer->utf8/null (%file-hash ni i))))
            (pointer->utf8/null (%signature ni))
            (strings (%sigs-count ni)
                     (lambda (i) (pointer->utf8/null (%sig ni i)))))))

(define (parse-bytes bv origin irritant)
  "Parse the UTF-8 narinfo text BV with the library; return the C narinfo."
  (let ((out (make-out-buffer 2)))
    (check-status (%parse (utf8-pointer bv) (bytevector-length bv)
                          (out-buffer-pointer out 0)
                          (out-buffer-pointer out 1))
                  out 1 origin (list irritant))
    (keep-alive bv)
    (out-pointer-ref out 0)))

(define (narinfo-fields narinfo)
  (or (narinfo-fields-field narinfo)
      (let* ((ni (parse-bytes (narinfo-bytes-field narinfo) 'narinfo-fields
                              narinfo))
             (fields (copy-fields ni)))
        (%free ni)
        (set-narinfo-fields-field! narinfo fields)
        fields)))

(define (check-narinfo narinfo origin)
  (unless (narinfo? narinfo)
    (scm-error 'wrong-type-arg origin
               "Wrong type argument (expecting a narinfo): ~S"
               (list narinfo) (list narinfo))))

(define-syntax-rule (define-field-accessor name index doc)
  (define (name narinfo)
    doc
    (check-narinfo narinfo 'name)
    (vector-ref (narinfo-fields narinfo) index)))

(define (narinfo-contents narinfo)
  "Return the text of @var{narinfo}, byte for byte as stored or parsed, as
a string."
  (check-narinfo narinfo 'narinfo-contents)
  (or (narinfo-contents-field narinfo)
      (let ((text (utf8->string (narinfo-bytes-field narinfo))))
        (set-narinfo-contents-field! narinfo text)
        text)))

(define (narinfo-contents-bytevector narinfo)
  "Return the text of @var{narinfo} as a bytevector of UTF-8, byte for byte
as stored or parsed (what an HTTP server sends; no decoding needed).  Do
not modify it."
  (check-narinfo narinfo 'narinfo-contents-bytevector)
  (narinfo-bytes-field narinfo))

(define-field-accessor narinfo-path 0
  "Return the store path of @var{narinfo}, e.g.
@code{\"/gnu/store/…-hello-2.12.2\"} (@code{StorePath})."
  )
(define-field-accessor narinfo-hash-part 1
  "Return the 32-character hash part of @var{narinfo}'s store path (the key
it is stored and looked up under).")
(define-field-accessor narinfo-hash 2
  "Return the @code{NarHash} of @var{narinfo} as written, e.g.
@code{\"sha256:…\"}.")
(define-field-accessor narinfo-size 3
  "Return the @code{NarSize} of @var{narinfo}, an integer.")
(define-field-accessor narinfo-references 4
  "Return the @code{References} of @var{narinfo}: a list of base names
(@code{\"<hash>-<name>\"}) in file order, possibly empty.")
(define-field-accessor narinfo-deriver 5
  "Return the @code{Deriver} of @var{narinfo} (a base name), or #f.")
(define-field-accessor narinfo-system 6
  "Return the @code{System} of @var{narinfo}, or #f.")
(define-field-accessor narinfo-ca 7
  "Return the @code{CA} (content address) of @var{narinfo}, or #f.")
(define-field-accessor narinfo-uris 8
  "Return the list of @code{URL}s of @var{narinfo}, one per compression,
as written (strings, relative to the cache).")
(define-field-accessor narinfo-compressions 9
  "Return the list of @code{Compression}s of @var{narinfo}, parallel to
@code{narinfo-uris} (#f where absent).")
(define-field-accessor narinfo-file-sizes 10
  "Return the list of @code{FileSize}s of @var{narinfo}, parallel to
@code{narinfo-uris} (#f where absent).")
(define-field-accessor narinfo-file-hashes 11
  "Return the list of @code{FileHash}es of @var{narinfo}, parallel to
@code{narinfo-uris} (#f where absent).")
(define-field-accessor narinfo-signature 12
  "Return the Guix @code{Signature} of @var{narinfo} as written,
@code{\"1;HOST;BASE64\"}, or #f.  (Guix's own accessor returns
the decoded s-expression; check signatures with @code{verify-narinfo}.)")
(define-field-accessor narinfo-sigs 13
  "Return the Nix @code{Sig} values of @var{narinfo}
(@code{\"KEYNAME:BASE64\"}), in file order, possibly none.")

(set-record-type-printer! <narinfo>
  (lambda (narinfo port)
    ;; Guarded: the record is the irritant of a failed parse of its text.
    (let ((fields (false-if-exception (narinfo-fields narinfo))))
      (display "#<narinfo " port)
      (display (if fields (vector-ref fields 0) "(unparsable)") port)
      (display ">" port))))

(define* (narinfo-pointer->narinfo ni #:optional (len-buffer (make-out-buffer 1))
                                   (len-pointer (out-buffer-pointer len-buffer 0)))
  "Return a narinfo record holding a copy of the text of the C narinfo
@var{ni} (which the caller still owns), or #f when @var{ni} is null.
@var{len-buffer}, an out-buffer of one slot, and @var{len-pointer}, a
pointer to its slot, may be passed to reuse them."
  (if (null-pointer? ni)
      #f
      (let* ((text (%text ni len-pointer))
             (len (out-size-ref len-buffer 0))
             (bytes (make-bytevector len)))
        (unless (zero? len)
          (bytevector-copy! (pointer->bytevector text len) 0 bytes 0 len))
        (%make-narinfo bytes #f #f))))

;;;
;;; Calls.
;;;

(define (parse-narinfo text)
  "Parse the narinfo @var{text} (a string) without storing it and return a
narinfo record.  A malformed text raises a @code{&narherder-error} with
status @code{bad-narinfo} whose message names the line and field."
  (let* ((bytes (string->utf8 text))
         (ni (parse-bytes bytes 'parse-narinfo text))
         (fields (copy-fields ni)))
    (%free ni)
    (%make-narinfo bytes text fields)))

(define (store-path-hash-part str)
  "Return the hash part of @var{str}: @var{str} itself when it is 32
characters long, else the first 32 characters of its base name when they
are followed by @code{-} (a store path or base name), else @var{str}."
  (if (= (string-length str) 32)
      str
      (let* ((slash (string-rindex str #\/))
             (start (if slash (+ slash 1) 0)))
        (if (and (> (string-length str) (+ start 32))
                 (char=? (string-ref str (+ start 32)) #\-))
            (substring str start (+ start 32))
            str))))

;; The hot path: one foreign call of four arguments,
;; narherder_narinfo_get_text_in_place, and no handle to free.  Each thread
;; keeps a scratch bytevector (taken out of the fluid while in use, so that
;; an async running a lookup in between gets a fresh one): the error
;; out-parameter at 0, then from 8 on the in-place area, where the hash goes
;; in and the text comes out.  The return value is the text's length, -1 for
;; a miss or -2 for a failure.
(define-foreign %get-text-in-place int64 "narherder_narinfo_get_text_in_place"
  ('* '* size_t '*))
(define-foreign %error-status uint32 "narherder_error_status" ('*))

(define %scratch (make-thread-local-fluid #f))
(define %io-offset 8)

(define (make-scratch io-size)
  "A scratch area: its bytevector, pointers to its parts (computed once:
bytevector->pointer is costly) and the size of its in-place area."
  (let* ((bv (make-bytevector (+ %io-offset io-size) 0))
         (base (pointer-address (bytevector->pointer bv))))
    (vector bv (make-pointer base) (make-pointer (+ base %io-offset))
            io-size)))

(define (put-hash! part bv)
  "Write hash part PART into BV at %io-offset as 32 ASCII bytes.  A string
that cannot be a hash part (another length, a non-ASCII character) becomes
32 dashes, which the library answers as a miss (after checking, like for
any hash, that the store is open).  A loop over the characters is cheaper
than string->utf8, which allocates."
  (if (= (string-length part) 32)
      (let loop ((i 0) (bits 0))
        (if (< i 32)
            (let ((c (char->integer (string-ref part i))))
              (bytevector-u8-set! bv (+ %io-offset i) (logand c 127))
              (loop (+ i 1) (logior bits c)))
            (unless (< bits 128)
              (put-hash! "" bv))))
      (let loop ((i 0))
        (when (< i 32)
          (bytevector-u8-set! bv (+ %io-offset i) 45)
          (loop (+ i 1))))))

(define-inlinable (call-with-narinfo-text store hash who on-hit)
  "Look HASH up in STORE through the per-thread scratch area.  On a hit,
return (ON-HIT BV START LEN), where the text is BV[START, START+LEN) and
is valid only during the call; return #f on a miss; raise on a failure
(naming WHO)."
  (let ((part (store-path-hash-part hash))
        (pointer (store-pointer store))
        (scratch (or (fluid-ref %scratch) (make-scratch 16384))))
    (fluid-set! %scratch #f)
    (let retry ((scratch scratch))
      (let ((bv (vector-ref scratch 0))
            (capacity (vector-ref scratch 3)))
        (put-hash! part bv)
        (let ((len (%get-text-in-place pointer (vector-ref scratch 2) capacity
                                       (vector-ref scratch 1))))
          (keep-alive store)
          (cond ((and (>= len 0) (<= len capacity))
                 (let ((result (on-hit bv %io-offset len)))
                   (fluid-set! %scratch scratch)
                   result))
                ((= len -1)
                 (fluid-set! %scratch scratch)
                 #f)
                ((= len -2)
                 (fluid-set! %scratch scratch)
                 (check-status (%error-status (out-pointer-ref bv 0)) bv 0
                               who (list hash)))
                (else
                 ;; A text larger than the in-place area: grow it and ask
                 ;; again (the store may have changed in between, hence
                 ;; the loop).
                 (retry (make-scratch len)))))))))

(define (lookup-narinfo store hash)
  "Return the narinfo stored in @var{store} for @var{hash} (a hash part, a
store path or a base name), or #f when there is none (a miss is not an
error)."
  (call-with-narinfo-text store hash 'lookup-narinfo
    (lambda (bv start len)
      (let ((bytes (make-bytevector len)))
        (bytevector-copy! bv start bytes 0 len)
        (%make-narinfo bytes #f #f)))))

(define (lookup-narinfo-bytes! store hash target)
  "Copy the text of the narinfo stored in @var{store} for @var{hash} (a
hash part, a store path or a base name) into the bytevector
@var{target}, from index 0, and return its length in bytes; return #f
when there is none.  Nothing is allocated: a server that writes texts
out (@code{put-bytevector}) can reuse one bytevector for every lookup.
A returned length larger than @code{(bytevector-length @var{target})}
means that the text did not fit and @var{target} was left alone: ask
again with a bytevector at least that long."
  (unless (bytevector? target)
    (scm-error 'wrong-type-arg 'lookup-narinfo-bytes!
               "Wrong type argument in position 3: ~S" (list target)
               (list target)))
  (call-with-narinfo-text store hash 'lookup-narinfo-bytes!
    (lambda (bv start len)
      (when (<= len (bytevector-length target))
        (bytevector-copy! bv start target 0 len))
      len)))

(define-foreign %batch-texts size_t "narherder_narinfo_batch_texts"
  ('* '* size_t '*))

(define (batch->narinfos batch count)
  "The narinfo records (or #f) of the COUNT entries of the C BATCH: the
texts copied out in one call into one buffer, then split."
  (let* ((total (%batch-texts batch %null-pointer 0 %null-pointer))
         (buf (make-bytevector (max total 1) 0))
         (lens (make-bytevector (max 8 (* 8 count)) 0)))
    (unless (= total (%batch-texts batch (bytevector->pointer buf) total
                                   (bytevector->pointer lens)))
      (raise-narherder-error 'panic 'lookup-narinfos
                             "the batch's texts changed size"))
    (let loop ((i 0) (offset 0) (acc '()))
      (if (= i count)
          (reverse! acc)
          (let ((len (bytevector-s64-native-ref lens (* 8 i))))
            (if (< len 0)
                (loop (+ i 1) offset (cons #f acc))
                (let ((bytes (make-bytevector len)))
                  (bytevector-copy! buf offset bytes 0 len)
                  (loop (+ i 1) (+ offset len)
                        (cons (%make-narinfo bytes #f #f) acc)))))))))

(define (lookup-narinfos store hashes)
  "Look the list @var{hashes} (hash parts, store paths or base names) up in
@var{store} in one call (one snapshot) and return a list of the same
length: for each, a narinfo or #f for a miss."
  (call-with-values (lambda () (make-slices (map store-path-hash-part hashes)))
    (lambda (slices bvs)
      (let ((out (make-out-buffer 2))
            (n (length hashes)))
        (check-status (%get-many (store-pointer store)
                                 (bytevector->pointer slices) n
                                 (out-buffer-pointer out 0)
                                 (out-buffer-pointer out 1))
                      out 1 'lookup-narinfos (list hashes))
        (keep-alive bvs)
        (keep-alive store)
        (let* ((batch (out-pointer-ref out 0))
               (result (batch->narinfos batch (%batch-count batch))))
          (%batch-free batch)
          result)))))

(define (narinfos-exist store hashes)
  "Return a list of booleans saying, for each of the list @var{hashes}
(hash parts, store paths or base names), whether @var{store} holds its
narinfo, answered in one call."
  (call-with-values (lambda () (make-slices (map store-path-hash-part hashes)))
    (lambda (slices bvs)
      (let* ((n (length hashes))
             (answers (make-bytevector (max n 1) 0))
             (out (make-out-buffer 1)))
        (check-status (%exists-many (store-pointer store)
                                    (bytevector->pointer slices) n
                                    (bytevector->pointer answers)
                                    (out-buffer-pointer out 0))
                      out 0 'narinfos-exist (list hashes))
        (keep-alive bvs)
        (keep-alive store)
        (let loop ((i (- n 1)) (acc '()))
          (if (< i 0)
              acc
              (loop (- i 1)
                    (cons (not (zero? (bytevector-u8-ref answers i))) acc))))))))

(define %outcomes #(inserted unchanged replaced))

(define* (add-narinfo! store narinfo #:key replace?)
  "Add @var{narinfo} (a narinfo record or its text) to @var{store} and
return what happened: @code{inserted}, @code{unchanged} (the same text was
stored) or @code{replaced}.  A different narinfo already stored for the
same hash raises a @code{&narherder-error} with status @code{conflict},
unless @var{replace?} is true; a malformed text raises @code{bad-narinfo},
a narinfo of another store directory @code{store}."
  (let* ((bv (if (narinfo? narinfo)
                 (narinfo-contents-bytevector narinfo)
                 (string->utf8 narinfo)))
         (outcome (make-bytevector 4 0))
         (out (make-out-buffer 1)))
    (check-status (%add (store-pointer store) (utf8-pointer bv)
                        (bytevector-length bv) (if replace? 1 0)
                        (bytevector->pointer outcome)
                        (out-buffer-pointer out 0))
                  out 0 'add-narinfo! (list narinfo))
    (keep-alive store)
    (vector-ref %outcomes (bytevector-u32-native-ref outcome 0))))

(define (remove-narinfo! store hash)
  "Remove the narinfo of @var{hash} (a hash part, store path or base name)
from @var{store}, with its references and nar file records (nar files on
disk stay).  Return #t when one was stored, #f otherwise."
  (let ((bv (string->utf8 (store-path-hash-part hash)))
        (removed (make-bytevector 1 0))
        (out (make-out-buffer 1)))
    (check-status (%remove (store-pointer store) (bytevector->pointer bv)
                           (bytevector-length bv)
                           (bytevector->pointer removed)
                           (out-buffer-pointer out 0))
                  out 0 'remove-narinfo! (list hash))
    (keep-alive store)
    (not (zero? (bytevector-u8-ref removed 0)))))

(document!
 (narinfo? "Return #t when @var{obj} is a narinfo record."))
