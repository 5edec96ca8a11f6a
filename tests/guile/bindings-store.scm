;;; SRFI-64 suite: stores, narinfos, import, roots, GC and analytics from
;;; Scheme, on the database of NARHERDER_TEST_URL (SQLite or PostgreSQL).

(use-modules (narherder)
             (narherder ffi)
             (bindings-support)
             (srfi srfi-1)
             (srfi srfi-64)
             (ice-9 exceptions)
             (ice-9 ftw)
             (ice-9 match)
             (rnrs bytevectors))

(define url (env "NARHERDER_TEST_URL"))
(define texts (map read-file (guix-narinfo-files)))
(define hash-of (lambda (text)
                  (substring (basename (narinfo-field text "StorePath")) 0 32)))
(define nix-files
  (map (lambda (f) (data-file "nix" f))
       (sort (scandir (data-file "nix")
                      (lambda (f) (string-suffix? ".narinfo" f)))
             string<?)))

(define (check-fields narinfo text)
  "The record's fields against the narinfo text, read line by line here."
  (test-equal "contents" text (narinfo-contents narinfo))
  (test-equal "path" (narinfo-field text "StorePath") (narinfo-path narinfo))
  (test-equal "hash-part" (hash-of text) (narinfo-hash-part narinfo))
  (test-equal "NarHash" (narinfo-field text "NarHash") (narinfo-hash narinfo))
  (test-equal "NarSize" (string->number (narinfo-field text "NarSize"))
    (narinfo-size narinfo))
  (test-equal "References"
    (string-tokenize (or (narinfo-field text "References") ""))
    (narinfo-references narinfo))
  (test-equal "Deriver" (narinfo-field text "Deriver")
    (narinfo-deriver narinfo))
  (test-equal "System" (narinfo-field text "System") (narinfo-system narinfo))
  (test-equal "CA" (narinfo-field text "CA") (narinfo-ca narinfo))
  (test-equal "URLs" (narinfo-field-values text "URL") (narinfo-uris narinfo))
  (test-equal "Compressions" (narinfo-field-values text "Compression")
    (narinfo-compressions narinfo))
  (test-equal "FileSizes"
    (map string->number (narinfo-field-values text "FileSize"))
    (narinfo-file-sizes narinfo))
  (test-equal "Signature" (narinfo-field text "Signature")
    (narinfo-signature narinfo))
  (test-equal "Sig" (narinfo-field-values text "Sig") (narinfo-sigs narinfo))
  (let ((hashes (narinfo-field-values text "FileHash")))
    (test-equal "FileHashes"
      (if (null? hashes)
          (map (const #f) (narinfo-uris narinfo))
          hashes)
      (narinfo-file-hashes narinfo))))

(run-suite "bindings-store"
  (lambda ()
    (test-group "library"
      (test-equal 1 (narherder-abi-version))
      (test-assert (string-prefix? "0." (narherder-version)))
      (test-assert (string-suffix? ".so" (narherder-library-file)))
      (test-equal 'not-found (status->symbol 6))
      (test-equal 'unknown (status->symbol 99)))

    (test-group "parse-narinfo: fields against the text"
      (for-each (lambda (text) (check-fields (parse-narinfo text) text))
                (append texts (map read-file nix-files))))

    (test-group "parse-narinfo: errors"
      (let ((bad "StorePath: /gnu/store/nothash-x\nNarSize: 12\n"))
        (match (error-parts (lambda () (parse-narinfo bad)))
          ((status origin message irritants)
           (test-equal 'bad-narinfo status)
           (test-equal 'parse-narinfo origin)
           (test-assert message (string-contains message "line"))
           (test-equal (list bad) irritants))
          (x (test-assert "raised" #f))))
      (test-equal 'bad-narinfo (error-status (lambda () (parse-narinfo ""))))
      (test-assert "a narinfo record prints its path"
        (string-contains
         (with-output-to-string (lambda () (write (parse-narinfo (car texts)))))
         "#<narinfo /gnu/store/")))

    (test-group "store-path-hash-part"
      (test-equal "cs56i9digj9qg1bd383cmxc6xrfpdn9n"
        (store-path-hash-part
         "/gnu/store/cs56i9digj9qg1bd383cmxc6xrfpdn9n-hello-2.12.2"))
      (test-equal "cs56i9digj9qg1bd383cmxc6xrfpdn9n"
        (store-path-hash-part "cs56i9digj9qg1bd383cmxc6xrfpdn9n-hello"))
      (test-equal "short" (store-path-hash-part "short")))

    (test-group "open-store errors"
      (match (error-parts (lambda () (open-store "nonsense://x")))
        ((status origin message irritants)
         (test-equal 'invalid-argument status)
         (test-equal 'open-store origin)
         (test-assert (string? message))
         (test-equal '("nonsense://x") irritants))
        (_ (test-assert "raised" #f)))
      (test-assert "not a store"
        (catch 'wrong-type-arg (lambda () (lookup-narinfo 42 "x") #f)
          (const #t))))

    (let ((store (open-store url #:store-directory "/gnu/store")))
      (test-group "store"
        (test-assert (store? store))
        (test-assert (not (store? 'x)))
        (test-equal "/gnu/store" (store-directory store))
        (test-assert (memq (store-backend store) '(sqlite postgres)))
        (test-equal (if (string-prefix? "sqlite" url) 'sqlite 'postgres)
          (store-backend store))
        (test-assert "prints without its address as data"
          (string-prefix? "#<narherder-store "
                          (with-output-to-string (lambda () (write store))))))

      (test-group "add, lookup, remove"
        (test-equal (map (const 'inserted) texts)
          (map (lambda (t) (add-narinfo! store t)) texts))
        (test-equal 'unchanged (add-narinfo! store (parse-narinfo (car texts))))
        (for-each (lambda (text)
                    (let ((n (lookup-narinfo store (hash-of text))))
                      (test-assert (narinfo? n))
                      (check-fields n text)))
                  texts)
        (test-equal "a miss is #f" #f
          (lookup-narinfo store "00000000000000000000000000000000"))
        (test-equal "no hash part is a miss" #f (lookup-narinfo store "x"))
        (test-equal "by store path" (car texts)
          (narinfo-contents
           (lookup-narinfo store (narinfo-field (car texts) "StorePath"))))
        (let ((hashes (append (map hash-of texts)
                              '("00000000000000000000000000000000"))))
          (test-equal (append texts '(#f))
            (map (lambda (n) (and n (narinfo-contents n)))
                 (lookup-narinfos store hashes)))
          (test-equal (append (map (const #t) texts) '(#f))
            (narinfos-exist store hashes))
          (test-equal '() (lookup-narinfos store '()))
          (test-equal '() (narinfos-exist store '())))
        ;; A different text for a stored hash: conflict, unless replaced.
        (let* ((text (car texts))
               (other (string-append text "CA: fixed:r:sha256:1\n")))
          (match (error-parts (lambda () (add-narinfo! store other)))
            ((status origin message irritants)
             (test-equal 'conflict status)
             (test-equal 'add-narinfo! origin)
             (test-equal (list other) irritants))
            (_ (test-assert "conflict raised" #f)))
          (test-equal 'replaced (add-narinfo! store other #:replace? #t))
          (test-equal other (narinfo-contents (lookup-narinfo store (hash-of text))))
          (test-equal 'replaced (add-narinfo! store text #:replace? #t)))
        (test-equal "the text as bytes" (string->utf8 (car texts))
          (narinfo-contents-bytevector (lookup-narinfo store (hash-of (car texts)))))
        (test-equal "a non-ASCII string is a miss" #f
          (lookup-narinfo store "é0000000000000000000000000000000"))
        (test-group "lookup-narinfo-bytes!"
          (let ((buffer (make-bytevector 65536 0)))
            (for-each (lambda (text)
                        (let* ((bytes (string->utf8 text))
                               (len (lookup-narinfo-bytes! store (hash-of text)
                                                           buffer))
                               (copy (make-bytevector len)))
                          (test-equal (bytevector-length bytes) len)
                          (bytevector-copy! buffer 0 copy 0 len)
                          (test-equal bytes copy)))
                      texts)
            (test-equal "by store path"
              (string-utf8-length (car texts))
              (lookup-narinfo-bytes! store
                                     (narinfo-field (car texts) "StorePath")
                                     buffer))
            (test-equal "a miss is #f" #f
              (lookup-narinfo-bytes! store "00000000000000000000000000000000"
                                     buffer))
            (let ((small (make-bytevector 10 7)))
              (test-equal "too small: the length, and nothing written"
                (list (string-utf8-length (car texts)) (make-bytevector 10 7))
                (list (lookup-narinfo-bytes! store (hash-of (car texts)) small)
                      small)))
            (test-assert "not a bytevector"
              (catch 'wrong-type-arg
                (lambda ()
                  (lookup-narinfo-bytes! store (hash-of (car texts)) "buffer")
                  #f)
                (const #t)))))
        ;; A text larger than the per-thread scratch area (16 KiB).
        (let* ((hash "1111111111111111111111111111111z")
               (refs (map (lambda (i)
                            (string-append "0000000000000000000000000000000"
                                           (string (string-ref "0123456789abcdfghijklmnpqrsvwxyz"
                                                               (modulo i 32)))
                                           "-reference-with-a-long-name-"
                                           (number->string i)))
                          (iota 600)))
               (text (string-append
                      "StorePath: /gnu/store/" hash "-big\n"
                      "URL: nar/big\nCompression: none\n"
                      "NarHash: sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73\n"
                      "NarSize: 120\nReferences: " (string-join refs " ") "\n")))
          (test-assert (> (string-length text) 32768))
          (test-equal 'inserted (add-narinfo! store text))
          (test-equal text (narinfo-contents (lookup-narinfo store hash)))
          (test-equal "again, with the grown scratch area" 600
            (length (narinfo-references (lookup-narinfo store hash))))
          (let ((buffer (make-bytevector 65536 0))
                (bytes (string->utf8 text)))
            (test-equal "into a bytevector" bytes
              (let ((len (lookup-narinfo-bytes! store hash buffer)))
                (let ((copy (make-bytevector len)))
                  (bytevector-copy! buffer 0 copy 0 len)
                  copy)))
            (test-equal "into too small a bytevector"
              (bytevector-length bytes)
              (lookup-narinfo-bytes! store hash (make-bytevector 100))))
          (test-equal #t (remove-narinfo! store hash)))
        (test-equal "another store directory" 'store
          (error-status
           (lambda ()
             (add-narinfo! store (read-file (car nix-files))))))
        (test-equal "malformed" 'bad-narinfo
          (error-status (lambda () (add-narinfo! store "nonsense"))))
        (let ((h (hash-of (car texts))))
          (test-equal #t (remove-narinfo! store h))
          (test-equal #f (lookup-narinfo store h))
          (test-equal #f (remove-narinfo! store h))
          (test-equal 'inserted (add-narinfo! store (car texts)))))

      (test-group "import"
        (let ((dir (tmp-file "import")))
          (mkdir dir)
          (for-each (lambda (file)
                      (copy-file file (string-append dir "/" (basename file))))
                    (guix-narinfo-files))
          (call-with-output-file (string-append dir "/broken.narinfo")
            (lambda (port) (display "StorePath: nonsense\n" port)))
          (let ((stats (import-narinfos store (list dir) #:dry-run? #t)))
            (test-assert (import-stats? stats))
            (test-equal (length texts) (import-stats-checked stats))
            (test-equal 0 (import-stats-inserted stats))
            (test-equal 1 (import-stats-rejected stats)))
          (let ((stats (import-narinfos store (list dir) #:batch-size 2
                                        #:bulk-load 'never)))
            (test-equal (+ 1 (length texts)) (import-stats-files stats))
            (test-equal (length texts) (import-stats-unchanged stats))
            (test-equal 0 (import-stats-inserted stats))
            (test-equal 0 (import-stats-replaced stats))
            (test-equal 1 (import-stats-rejected stats))
            (test-assert (>= (import-stats-elapsed-us stats)
                             (import-stats-write-us stats)))
            (for-each (lambda (f) (test-assert (integer? (f stats))))
                      (list import-stats-nar-files-placed
                            import-stats-nar-files-present
                            import-stats-nar-files-missing
                            import-stats-index-us)))
          (let ((stats (import-narinfos store (list dir)
                                        #:storage-directory (tmp-file "nars")
                                        #:nar-files 'copy #:parsers 1)))
            (test-equal "nar files named but absent" 7
              (import-stats-nar-files-missing stats))
            (test-equal 0 (import-stats-nar-files-placed stats)))
          (test-equal "bad option" 'invalid-argument
            (error-status
             (lambda () (import-narinfos store (list dir) #:nar-files 'move))))
          (test-equal "missing file: counted, not raised" 1
            (import-stats-rejected
             (import-narinfos store (list (tmp-file "does-not-exist")))))))

      (test-group "roots"
        (let* ((hello (lookup-narinfo store "cs56i9digj9qg1bd383cmxc6xrfpdn9n"))
               (sed (hash-of (list-ref texts 2))))
          (add-root! store "channel/master" (list (narinfo-path hello)))
          (add-root! store "channel/master" (list sed) #:expires-at 4102444800)
          (set-root! store "pinned" (list "00000000000000000000000000000000-gone"))
          (let ((roots (store-roots store)))
            (test-equal '("channel/master" "pinned") (map root-name roots))
            (let ((master (car roots)) (pinned (cadr roots)))
              (test-assert (root? master))
              (test-equal 4102444800 (root-expires-at master))
              (test-equal #f (root-expires-at pinned))
              (test-assert (> (root-updated-at master) 1700000000))
              (test-equal (sort (list "cs56i9digj9qg1bd383cmxc6xrfpdn9n" sed)
                                string<?)
                (map root-item-hash-part (root-items master)))
              (test-assert (every root-item? (root-items master)))
              (test-assert (member (narinfo-path hello)
                                   (map root-item-store-path (root-items master))))
              (test-equal '(#f) (map root-item-store-path (root-items pinned)))))
          (set-root! store "pinned" '())
          (test-equal '() (root-items (cadr (store-roots store))))
          (test-equal #t (remove-root! store "pinned"))
          (test-equal #f (remove-root! store "pinned"))
          (match (error-parts (lambda () (add-root! store "bad" '("not an item"))))
            ((status origin _ irritants)
             (test-equal 'invalid-argument status)
             (test-equal 'add-root! origin)
             (test-equal '("bad" ("not an item")) irritants))
            (_ (test-assert "raised" #f)))))

      (test-group "gc"
        ;; Live: hello's closure (the root) and sed; hello's references
        ;; are not stored, so the other narinfos are garbage once older
        ;; than a grace period of 0 s (added times are in whole seconds).
        ;; Build logs of a narinfo that stays and of one that goes.
        (define gc-storage (tmp-file "gc-storage"))
        (define (log-file text)
          (string-append gc-storage "/log/"
                         (basename (narinfo-field text "StorePath"))))
        (define live-text (list-ref texts 2))
        (define dead-text
          (find (lambda (t)
                  (not (member (hash-of t)
                               (list "cs56i9digj9qg1bd383cmxc6xrfpdn9n"
                                     (hash-of live-text)))))
                texts))
        (mkdir gc-storage)
        (mkdir (string-append gc-storage "/log"))
        (for-each (lambda (t)
                    (call-with-output-file (log-file t)
                      (lambda (port) (display "build log\n" port))))
                  (list live-text dead-text))
        (usleep 1100000)
        (let ((dry (collect-garbage store #:dry-run? #t #:grace-seconds 0)))
          (test-assert (gc-stats? dry))
          (test-assert (gc-stats-dry-run? dry))
          (test-equal 2 (gc-stats-live dry))
          (test-equal (- (length texts) 2) (gc-stats-dead dry))
          (test-equal (gc-stats-dead dry) (gc-stats-deleted dry))
          (test-assert (positive? (gc-stats-nar-bytes-freed dry)))
          (test-equal (length texts)
            (count identity (narinfos-exist store (map hash-of texts)))))
        (let ((real (collect-garbage store #:grace-seconds 0 #:batch-size 1
                                     #:max-delete 1)))
          (test-assert (not (gc-stats-dry-run? real)))
          (test-equal 1 (gc-stats-deleted real))
          (test-equal (- (length texts) 3) (gc-stats-kept real)))
        (let ((real (collect-garbage store #:grace-seconds 0
                                     #:storage-directory gc-storage)))
          (test-equal (- (length texts) 3) (gc-stats-deleted real))
          (test-equal 1 (gc-stats-logs-removed real))
          (test-assert (file-exists? (log-file live-text)))
          (test-assert (not (file-exists? (log-file dead-text))))
          (test-assert (>= (gc-stats-elapsed-us real) (gc-stats-mark-us real)))
          (for-each (lambda (f) (test-assert (integer? (f real))))
                    (list gc-stats-nar-files-deleted gc-stats-bytes-freed
                          gc-stats-files-removed)))
        (test-equal '(#t #t)
          (narinfos-exist store (list "cs56i9digj9qg1bd383cmxc6xrfpdn9n"
                                      (hash-of (list-ref texts 2)))))
        (test-equal 2 (gc-stats-live (collect-garbage store #:dry-run? #t)))
        (remove-root! store "channel/master")
        (test-equal "no root in force" 'invalid-argument
          (error-status (lambda () (collect-garbage store #:dry-run? #t))))
        (test-equal "forced" 2
          (gc-stats-dead (collect-garbage store #:dry-run? #t #:force? #t
                                          #:grace-seconds 0))))

      (test-group "analytics"
        (let ((hello "cs56i9digj9qg1bd383cmxc6xrfpdn9n")
              (miss "00000000000000000000000000000000"))
          (record-requests! store "node-a"
                            `((narinfo-hit . ,hello) (narinfo-hit . ,hello)
                              (nar-download . ,hello) (narinfo-miss . ,miss)))
          (record-requests! store "node-b" `((narinfo-hit . ,hello)))
          (record-requests! store "node-b" '())
          (let ((r (analytics-report store #:days 1 #:top 5)))
            (test-assert (analytics-report? r))
            (test-equal 3 (analytics-report-narinfo-hits r))
            (test-equal 1 (analytics-report-narinfo-misses r))
            (test-equal 1 (analytics-report-nar-downloads r))
            (test-equal 1 (analytics-report-never-requested r))
            (test-equal `((,hello 3 1)) (analytics-report-top r))
            (test-equal `((,miss . 1)) (analytics-report-missed r)))
          (test-equal 'invalid-argument
            (error-status
             (lambda () (record-requests! store "n" '((narinfo-hit . "bad"))))))
          (test-equal 'invalid-argument
            (error-status
             (lambda () (record-requests! store "n" '((visit . "x"))))))
          (test-equal 'invalid-argument
            (error-status (lambda () (record-requests! store "n" '(x)))))))

      (test-group "close"
        (close-store! store)
        (close-store! store)
        (match (error-parts (lambda () (lookup-narinfo store "x")))
          ((status origin _ irritants)
           (test-equal 'closed status)
           (test-equal 'lookup-narinfo origin)
           (test-equal '("x") irritants))
          (_ (test-assert "raised" #f)))
        (test-equal 'closed (error-status (lambda () (store-directory store))))
        (test-equal 'closed (error-status (lambda () (store-roots store))))))

    (test-group "call-with-store"
      (let* ((kept #f)
             (result (call-with-store url
                       (lambda (store)
                         (set! kept store)
                         (narinfo-contents
                          (lookup-narinfo store "cs56i9digj9qg1bd383cmxc6xrfpdn9n"))))))
        (test-equal (find (lambda (t) (string-contains t "hello-2.12.2")) texts)
          result)
        (test-equal "closed on return" 'closed
          (error-status (lambda () (store-backend kept)))))
      (let ((kept #f))
        (test-equal "closed on a non-local exit" 'boom
          (catch 'boom
            (lambda ()
              (call-with-store url
                (lambda (store) (set! kept store) (throw 'boom))))
            (lambda (key . _) key)))
        (test-equal 'closed (error-status (lambda () (store-backend kept)))))
      (test-equal "options are passed" 'store
        (error-status
         (lambda ()
           (call-with-store url store-backend
                            #:store-directory "/nix/store")))))))
