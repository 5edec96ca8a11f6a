;;; SRFI-64 suite: several Guile threads sharing one store, a store closed
;;; explicitly, a store left to the garbage collector (its finalizer frees
;;; it), and calls refused in a forked child.

(use-modules (narherder)
             (bindings-support)
             (srfi srfi-1)
             (srfi srfi-64)
             (ice-9 ftw)
             (ice-9 match)
             (ice-9 rdelim)
             (ice-9 threads))

(define url (env "NARHERDER_TEST_URL"))
(define texts (map read-file (guix-narinfo-files)))
(define (hash-of text)
  (substring (basename (narinfo-field text "StorePath")) 0 32))

(define (runtime-threads)
  "The number of threads of this process that run a store's runtime."
  (count (lambda (task)
           (let ((comm (string-append "/proc/self/task/" task "/comm")))
             (and (file-exists? comm)
                  (string=? "narherder-store"
                            (string-trim-right
                             (catch 'system-error
                               (lambda () (call-with-input-file comm read-string))
                               (const "")))))))
         (or (scandir "/proc/self/task"
                      (lambda (f) (not (member f '("." "..")))))
             '())))

(define (synthetic i)
  "A narinfo of its own for writer step I."
  (let ((hash (string-append "00000000000000000000000" 
                             (string-pad (number->string i) 9 #\0))))
    (string-append "StorePath: /gnu/store/" hash "-synthetic-" (number->string i)
                   "\nNarHash: sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73"
                   "\nNarSize: 120\nReferences: \nURL: nar/synthetic-" (number->string i) "\n")))

(run-suite "bindings-threads"
  (lambda ()
    (test-group "several Guile threads share one store"
      (let ((store (open-store url #:store-directory "/gnu/store")))
        (for-each (lambda (t) (add-narinfo! store t)) texts)
        (let* ((hashes (map hash-of texts))
               (readers
                (map (lambda (k)
                       (call-with-new-thread
                        (lambda ()
                          (let loop ((i 0) (bad 0))
                            (if (= i 300)
                                bad
                                (let* ((text (list-ref texts (modulo (+ i k) (length texts))))
                                       (hit (lookup-narinfo store (hash-of text)))
                                       (miss (lookup-narinfo
                                              store "0000000000000000000000000zzzzzzz"))
                                       (batch (if (zero? (modulo i 10))
                                                  (map narinfo-contents
                                                       (lookup-narinfos store hashes))
                                                  texts)))
                                  (loop (+ i 1)
                                        (if (and hit (string=? text (narinfo-contents hit))
                                                 (not miss) (equal? batch texts)
                                                 (string=? (narinfo-path hit)
                                                           (narinfo-field text "StorePath")))
                                            bad
                                            (+ bad 1)))))))))
                     (iota 4)))
               (writer
                (call-with-new-thread
                 (lambda ()
                   (every (lambda (i)
                            (let ((text (synthetic i)))
                              (and (eq? 'inserted (add-narinfo! store text))
                                   (equal? text
                                           (narinfo-contents
                                            (lookup-narinfo store (hash-of text))))
                                   (remove-narinfo! store (hash-of text))
                                   (not (lookup-narinfo store (hash-of text))))))
                          (iota 40))))))
          (test-assert (>= (runtime-threads) 2))
          (test-equal "every reader saw the right answers" '(0 0 0 0)
            (map join-thread readers))
          (test-assert "the writer's changes were seen at once" (join-thread writer)))
        (test-group "a store closed explicitly"
          (close-store! store)
          (test-assert "its runtime threads are gone"
            (with-timeout-loop 10 (lambda () (zero? (runtime-threads)))))
          (test-equal 'closed
            (error-status (lambda () (lookup-narinfo store (hash-of (car texts)))))))))

    (test-group "a store left to the garbage collector"
      (let* ((guardian (make-guardian))
             (hello (hash-of (car texts)))
             (ok (join-thread
                  (call-with-new-thread
                   (lambda ()
                     ;; The only reference to the store lives on this
                     ;; thread's stack, gone when it ends.
                     (let ((store (open-store url)))
                       (guardian store)
                       (narinfo? (lookup-narinfo store hello))))))))
        (test-assert "the store worked" ok)
        (test-assert "it was collected and its finalizer freed it"
          (with-timeout-loop
           15 (lambda ()
                (gc)
                (and (zero? (runtime-threads))
                     ;; The guardian returns the wrapper once unreachable.
                     (or (guardian) #t)))))))

    (test-group "calls are refused in a forked child"
      (let ((store (open-store url)))
        (test-assert (narinfo? (lookup-narinfo store (hash-of (car texts)))))
        (match (primitive-fork)
          (0
           (primitive-_exit
            (if (eq? 'forked
                     (error-status (lambda ()
                                     (lookup-narinfo store (hash-of (car texts))))))
                42
                1)))
          (pid
           (test-equal "the child got a &narherder-error with status forked" 42
             (status:exit-val (cdr (waitpid pid))))
           (test-assert "the parent's store still works"
             (narinfo? (lookup-narinfo store (hash-of (car texts)))))
           (close-store! store)))))))
