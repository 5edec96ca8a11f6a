;;; The Guile side of the Guile-vs-C lookup benchmark (BENCHMARKS.md,
;;; "Guile"; run by scripts/bench-guile next to benches/c/lookup_bench.c on
;;; the same database, in the same run).
;;;
;;;   guile -L guile benches/guile/lookup.scm setup DIR N TEMPLATE
;;;       writes N synthetic narinfos shaped like the narinfo file TEMPLATE
;;;       (its Signature line, two URL groups, two references) into
;;;       DIR/narinfos, imports them into sqlite://DIR/bench.db with
;;;       import-narinfos and writes their hash parts to DIR/hashes.
;;;   guile -L guile benches/guile/lookup.scm run URL HASHES-FILE CALLS
;;;       warms the store up (every hash looked up once), then times CALLS
;;;       `lookup-narinfo' hits of random hashes (the record holds the
;;;       copied text) and CALLS misses, in groups of 100 calls (hashes
;;;       drawn beforehand), and 100 `lookup-narinfos' of 1000; prints
;;;       "guile hit MEDIAN P90" etc., per call in nanoseconds, as
;;;       lookup_bench.c does.

(use-modules (narherder)
             (ice-9 match)
             (ice-9 rdelim)
             (rnrs bytevectors)
             (srfi srfi-1))

(define alphabet "0123456789abcdfghijklmnpqrsvwxyz")

(define (random-hash i state)
  ;; 26 random characters, then the index in 6 (distinct hashes).
  (string-append
   (list->string (map (lambda (_) (string-ref alphabet (random 32 state)))
                      (iota 26)))
   (list->string (map (lambda (k)
                        (string-ref alphabet
                                    (modulo (ash i (* -5 (- 5 k))) 32)))
                      (iota 6)))))

(define (setup dir n template)
  (let* ((text (call-with-input-file template read-string))
         (signature (find (lambda (line) (string-prefix? "Signature: " line))
                          (string-split text #\newline)))
         (state (seed->random-state 42))
         (hashes (list->vector (map (lambda (i) (random-hash i state))
                                    (iota n))))
         (file (string-append dir "/narinfos")))
    (call-with-output-file file
      (lambda (port)
        (for-each
         (lambda (i)
           (let ((h (vector-ref hashes i))
                 (r (vector-ref hashes (modulo (+ (* i 7) 3) n))))
             (format port "StorePath: /gnu/store/~a-package-~a
NarHash: sha256:0qhasy0w9w9mfv0vacgzymxl4nww8cslyza5x2ci42v7i2b13lyl
NarSize: ~a
References: ~a-package-~a ~a-package-~a
System: x86_64-linux
Deriver: ~a-package-~a.drv
~a
URL: nar/lzip/~a-package-~a
Compression: lzip
FileSize: ~a
URL: nar/zstd/~a-package-~a
Compression: zstd
FileSize: ~a

"
                     h i (+ 100000 i) h i r (modulo (+ (* i 7) 3) n) h i
                     signature h i (+ 50000 i) h i (+ 60000 i))))
         (iota n))))
    (call-with-store (string-append "sqlite://" dir "/bench.db")
      (lambda (store)
        (let ((stats (import-narinfos store (list file))))
          (format #t "imported ~a narinfos (~a rejected) in ~a ms~%"
                  (import-stats-inserted stats) (import-stats-rejected stats)
                  (quotient (import-stats-elapsed-us stats) 1000)))))
    (call-with-output-file (string-append dir "/hashes")
      (lambda (port)
        (for-each (lambda (h) (display h port) (newline port))
                  (vector->list hashes))))))

(define (report name times)
  (let* ((v (list->vector (sort times <)))
         (n (vector-length v)))
    (format #t "guile ~a ~a ~a~%" name (vector-ref v (quotient n 2))
            (vector-ref v (quotient (* n 90) 100)))))

(define group 100)

(define (time-groups calls next proc)
  "Time CALLS calls of PROC in groups of GROUP on arguments from NEXT
(computed before the clock starts); return the per-call time of each
group.  The times go into a preallocated vector."
  (let* ((groups (quotient calls group))
         (times (make-vector groups 0))
         (args (make-vector group #f)))
    (let loop ((g 0))
      (when (< g groups)
        (let fill ((i 0))
          (when (< i group)
            (vector-set! args i (next))
            (fill (+ i 1))))
        (let ((t0 (get-internal-real-time)))
          (let call ((i 0))
            (when (< i group)
              (proc (vector-ref args i))
              (call (+ i 1))))
          (vector-set! times g (quotient (- (get-internal-real-time) t0) group)))
        (loop (+ g 1))))
    (vector->list times)))

(define (time-calls calls next proc)
  "Time CALLS calls of PROC, each on its own, on arguments from NEXT."
  (let ((times (make-vector calls 0)))
    (let loop ((i 0))
      (when (< i calls)
        (let* ((arg (next))
               (t0 (get-internal-real-time)))
          (proc arg)
          (vector-set! times i (- (get-internal-real-time) t0))
          (loop (+ i 1)))))
    (vector->list times)))

(define (run url hashes-file calls)
  (unless (= internal-time-units-per-second 1000000000)
    (error "expected nanosecond internal time units"))
  (let* ((hashes (list->vector
                  (filter (lambda (l) (= (string-length l) 32))
                          (string-split (call-with-input-file hashes-file
                                          read-string)
                                        #\newline))))
         (n (vector-length hashes))
         (state (seed->random-state 7))
         (pick (lambda () (vector-ref hashes (random n state)))))
    (call-with-store url
      (lambda (store)
        (for-each (lambda (h)
                           (unless (lookup-narinfo store h)
                             (error "missing" h)))
                  (vector->list hashes))
        (report "hit"
                (time-groups calls pick
                            (lambda (hash)
                              (let ((n (lookup-narinfo store hash)))
                                (unless (and n (positive? (bytevector-length
                                                           (narinfo-contents-bytevector n))))
                                  (error "bad hit"))))))
        (report "miss"
                (time-groups calls (const "00000000000000000000000000000000")
                            (lambda (hash)
                              (when (lookup-narinfo store hash)
                                (error "hit for a missing hash")))))
        (let ((batches (map (lambda (_) (map (lambda (_) (pick)) (iota 1000)))
                            (iota 100))))
          (report "batch"
                  (time-calls 100
                              (lambda ()
                                (let ((batch (car batches)))
                                  (set! batches (cdr batches))
                                  batch))
                              (lambda (batch)
                                (unless (every narinfo?
                                               (lookup-narinfos store batch))
                                  (error "bad batch"))))))))))

(match (command-line)
  ((_ "setup" dir n template) (setup dir (string->number n) template))
  ((_ "run" url hashes calls) (run url hashes (string->number calls)))
  (_ (format (current-error-port)
             "usage: lookup.scm setup DIR N TEMPLATE | run URL HASHES CALLS~%")
     (exit 2)))
