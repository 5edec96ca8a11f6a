;;; publish.scm --- a `guix publish'-style narinfo server in Scheme.
;;;
;;; Serves /nix-cache-info and /<hash>.narinfo (GET and HEAD) from a
;;; narherder store with Guile's (web server), the shape a Scheme substitute
;;; server built on (narherder) would take:
;;;
;;;   guile -L guile examples/guile/publish.scm --database URL \
;;;         [--host 127.0.0.1] [--port 8080] [--ttl 3600] [--negative-ttl 60] \
;;;         [--priority 100] [--node NAME]
;;;
;;; With --port 0 the system picks a free port.  Once listening it prints
;;; "listening on http://HOST:PORT/" on standard output.
;;;
;;; What clients get (DESIGN.md, "HTTP surface"): every response carries a
;;; correct Content-Length (404s included) and is written in request order
;;; on the same keep-alive connection, so Guix clients may pipeline their
;;; narinfo GETs; hits have `Cache-Control: max-age=TTL', misses
;;; `max-age=NEGATIVE-TTL'; only the narinfo whose hash is the one asked for
;;; is served (lookups are by hash).  Requests are counted in memory and
;;; written to the store's analytics in batches (record-requests!).

(use-modules (narherder)
             (web server)
             (web request)
             (web response)
             (web uri)
             (rnrs bytevectors)
             (ice-9 getopt-long)
             (ice-9 match)
             (ice-9 threads)
             (srfi srfi-1))

(define %options
  '((database (value #t))
    (host (value #t))
    (port (value #t))
    (ttl (value #t))
    (negative-ttl (value #t))
    (priority (value #t))
    (node (value #t))
    (help (single-char #\h))))

(define (number-option options name default)
  (let ((value (option-ref options name #f)))
    (cond ((not value) default)
          ((string->number value) => identity)
          (else (format (current-error-port) "publish.scm: --~a wants a number, not ~s~%"
                        name value)
                (exit 2)))))

(define nix32-chars (string->char-set "0123456789abcdfghijklmnpqrsvwxyz"))

(define (narinfo-request-hash path)
  "The hash part asked for by PATH, \"/<hash>.narinfo\", or #f."
  (and (= (string-length path) 41)
       (string-prefix? "/" path)
       (string-suffix? ".narinfo" path)
       (let ((hash (substring path 1 33)))
         (and (string-every nix32-chars hash) hash))))

;;; Request counting: in memory, written in one call per batch.

(define (make-counter store node)
  "A procedure counting requests in memory (message 'count) and writing
them to STORE in one call per batch (1000 requests or 10 seconds), or
when told to (message 'flush).  Thread-safe."
  (let ((pending '())
        (count 0)
        (last-flush (current-time))
        (mutex (make-mutex)))
    (define (flush!)
      (unless (null? pending)
        (record-requests! store node (reverse pending))
        (set! pending '())
        (set! count 0))
      (set! last-flush (current-time)))
    (lambda (message . args)
      (with-mutex mutex
        (match message
          ('count
           (set! pending (cons (car args) pending))
           (set! count (+ count 1))
           (when (or (>= count 1000) (> (- (current-time) last-flush) 10))
             (flush!)))
          ('flush (flush!)))))))

;;; Responses.

(define (bytes-response code type body cache-seconds)
  (values (build-response
           #:code code
           #:headers `((content-type . (,type))
                       ,@(if cache-seconds
                             `((cache-control . ((max-age . ,cache-seconds))))
                             '())))
          body))

(define (text-response code type body cache-seconds)
  (bytes-response code type (string->utf8 body) cache-seconds))

(define (make-handler store options count!)
  (let ((ttl (number-option options 'ttl 3600))
        (negative-ttl (number-option options 'negative-ttl 60))
        (cache-info (format #f "StoreDir: ~a\nWantMassQuery: 0\nPriority: ~a\n"
                            (store-directory store)
                            (number-option options 'priority 100))))
    (lambda (request body)
      (let ((path (uri-path (request-uri request))))
        (cond
         ((not (memq (request-method request) '(GET HEAD)))
          (values (build-response #:code 405
                                  #:headers '((allow . (GET HEAD))
                                              (content-type . (text/plain))))
                  (string->utf8 "method not allowed\n")))
         ((string=? path "/nix-cache-info")
          (text-response 200 'text/x-nix-cache-info cache-info #f))
         ((narinfo-request-hash path)
          => (lambda (hash)
               (match (lookup-narinfo store hash)
                 (#f
                  (count! 'count (cons 'narinfo-miss hash))
                  (text-response 404 'text/plain "404 not found\n" negative-ttl))
                 (narinfo
                  (count! 'count (cons 'narinfo-hit hash))
                  ;; The stored bytes as they are: no decoding.
                  (bytes-response 200 'application/x-nix-narinfo
                                  (narinfo-contents-bytevector narinfo) ttl)))))
         (else
          (text-response 404 'text/plain "404 not found\n" negative-ttl)))))))

(define (listening-socket host port)
  (let* ((address (inet-pton AF_INET host))
         (socket (socket PF_INET SOCK_STREAM 0)))
    (setsockopt socket SOL_SOCKET SO_REUSEADDR 1)
    (bind socket AF_INET address port)
    ;; Listen before announcing the port (run-server listens again).
    (listen socket 128)
    socket))

(define (usage port)
  (display "usage: publish.scm --database URL [--host 127.0.0.1] [--port 8080] \
[--ttl 3600] [--negative-ttl 60] [--priority 100] [--node NAME]\n" port))

(define (main args)
  (let* ((options (getopt-long args %options))
         (_ (cond ((option-ref options 'help #f)
                   (usage (current-output-port))
                   (exit 0))
                  ((not (option-ref options 'database #f))
                   (usage (current-error-port))
                   (exit 2))))
         (host (option-ref options 'host "127.0.0.1"))
         (port (number-option options 'port 8080))
         (node (option-ref options 'node (gethostname)))
         (socket (listening-socket host port)))
    (call-with-store (option-ref options 'database #f)
      (lambda (store)
        (let ((count! (make-counter store node)))
          (format #t "listening on http://~a:~a/~%" host
                  (sockaddr:port (getsockname socket)))
          (force-output)
          ;; The server runs in a thread of its own: the main thread waits
          ;; for SIGTERM or SIGINT (a signal cannot interrupt the server's
          ;; poll), then writes the last counts; leaving call-with-store
          ;; closes the store, and leaving main ends the process.
          (let ((stop? #f))
            (sigaction SIGTERM (lambda (_) (set! stop? #t)))
            (sigaction SIGINT (lambda (_) (set! stop? #t)))
            (call-with-new-thread
             (lambda ()
               (run-server (make-handler store options count!) 'http
                           `(#:socket ,socket))))
            (let wait ()
              (unless stop?
                (sleep 1)
                (wait)))
            (count! 'flush)))))))

(main (command-line))
