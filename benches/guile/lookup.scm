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
;;;       copied text), CALLS `lookup-narinfo-bytes!' hits into one reused
;;;       bytevector and CALLS misses, in groups of 100 calls (hashes
;;;       drawn beforehand), and 100 `lookup-narinfos' of 1000; prints
;;;       "guile hit MEDIAN P90" etc., per call in nanoseconds, as
;;;       lookup_bench.c does.

(use-modules (narherder)
             (system foreign)
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

(define (read-hashes file)
  "The hash parts of FILE, one per line, as a vector of strings."
  (list->vector
   (filter (lambda (l) (= (string-length l) 32))
           (string-split (call-with-input-file file read-string) #\newline))))

(define (run url hashes-file calls)
  (unless (= internal-time-units-per-second 1000000000)
    (error "expected nanosecond internal time units"))
  (let* ((hashes (read-hashes hashes-file))
         (n (vector-length hashes))
         (state (seed->random-state 7))
         ;; A fresh copy, as a server has the hash it was just asked for
         ;; at hand (lookup_bench.c copies its picks likewise).
         (pick (lambda () (string-copy (vector-ref hashes (random n state))))))
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
        (let ((buffer (make-bytevector 65536)))
          (report "bytes"
                  (time-groups calls pick
                               (lambda (hash)
                                 (let ((n (lookup-narinfo-bytes! store hash buffer)))
                                   (unless (and n (positive? n)
                                                (<= n (bytevector-length buffer)))
                                     (error "bad hit" hash)))))))
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

(define (run-paired url hashes-file calls c-library)
  "Time Guile's lookups against C's in this one process: for each group of
100 hashes, the Guile calls and the C calls (lookup_group of
C-LIBRARY, benches/c/lookup_group.c) on the same store handle and the same
hashes, taking turns at going first.  Prints \"paired KIND GUILE C\", the
median per-call times in nanoseconds."
  (let* ((hashes (read-hashes hashes-file))
         (n (vector-length hashes))
         (state (seed->random-state 11))
         (c-buffer (make-bytevector 65536))
         (c-buffer-pointer (bytevector->pointer c-buffer))
         (buffer (make-bytevector 65536))
         (groups (quotient calls group))
         (args (make-vector group #f))
         (flat (make-bytevector (* 32 group)))
         (flat-pointer (bytevector->pointer flat)))
    (define (fill! next)
      ;; The group's hashes as fresh strings for Guile and packed for C.
      (let loop ((i 0))
        (when (< i group)
          (let ((h (next)))
            (vector-set! args i h)
            (let copy ((k 0))
              (when (< k 32)
                (bytevector-u8-set! flat (+ (* 32 i) k)
                                    (char->integer (string-ref h k)))
                (copy (+ k 1)))))
          (loop (+ i 1)))))
    (define (guile-group proc)
      (let ((t0 (get-internal-real-time)))
        (let call ((i 0))
          (when (< i group)
            (proc (vector-ref args i))
            (call (+ i 1))))
        (/ (- (get-internal-real-time) t0) group 1.0)))
    (define (pair name kind next proc)
      (let ((g-times (make-vector groups 0))
            (c-times (make-vector groups 0)))
        (let loop ((g 0))
          (when (< g groups)
            (fill! next)
            (let* ((c-first? (odd? g))
                   (c1 (and c-first?
                            (c-group (store-pointer store) flat-pointer group kind
                                     c-buffer-pointer 65536)))
                   (gt (guile-group proc))
                   (c2 (if c-first?
                           c1
                           (c-group (store-pointer store) flat-pointer group kind
                                    c-buffer-pointer 65536))))
              (when (negative? c2)
                (error "C lookup failed" name))
              (vector-set! g-times g gt)
              (vector-set! c-times g c2))
            (loop (+ g 1))))
        (let ((median (lambda (v)
                        (vector-ref (list->vector (sort (vector->list v) <))
                                    (quotient groups 2)))))
          (format #t "paired ~a ~a ~a~%" name
                  (inexact->exact (round (median g-times)))
                  (inexact->exact (round (median c-times)))))))
    (define store #f)
    (define store-pointer (@@ (narherder store) store-pointer))
    (define c-group #f)
    (define (pick) (string-copy (vector-ref hashes (random n state))))
    (call-with-store url
      (lambda (s)
        (set! store s)
        ;; Linked after the store is open: the library is loaded by then,
        ;; and lookup_group's libnarherder is that very one.
        (set! c-group (pointer->procedure double
                                          (dynamic-func "lookup_group"
                                                        (dynamic-link c-library))
                                          (list '* '* size_t int '* size_t)))
        (for-each (lambda (h)
                           (unless (lookup-narinfo store h)
                             (error "missing" h)))
                  (vector->list hashes))
        (pair "hit" 0 pick
              (lambda (hash)
                (let ((n (lookup-narinfo store hash)))
                  (unless (and n (positive? (bytevector-length
                                             (narinfo-contents-bytevector n))))
                    (error "bad hit")))))
        (pair "bytes" 1 pick
              (lambda (hash)
                (let ((n (lookup-narinfo-bytes! store hash buffer)))
                  (unless (and n (positive? n) (<= n (bytevector-length buffer)))
                    (error "bad hit" hash)))))
        (pair "miss" 2 (const "00000000000000000000000000000000")
              (lambda (hash)
                (when (lookup-narinfo store hash)
                  (error "hit for a missing hash"))))))))

(match (command-line)
  ((_ "setup" dir n template) (setup dir (string->number n) template))
  ((_ "run" url hashes calls) (run url hashes (string->number calls)))
  ((_ "paired" url hashes calls c-library)
   (run-paired url hashes (string->number calls) c-library))
  (_ (format (current-error-port)
             "usage: lookup.scm setup DIR N TEMPLATE | run URL HASHES CALLS | \
paired URL HASHES CALLS C-LIBRARY~%")
     (exit 2)))
