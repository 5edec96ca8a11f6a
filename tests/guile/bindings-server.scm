;;; SRFI-64 suite: the example programs of examples/guile/ against a real
;;; store.  publish.scm runs as a child process and answers real HTTP
;;; requests from (web client) and from a raw socket that pipelines several
;;; requests before reading any answer; import-and-root.scm imports, roots
;;; and reports a GC dry run.

(use-modules (narherder)
             (bindings-support)
             (srfi srfi-1)
             (srfi srfi-64)
             (ice-9 match)
             (ice-9 rdelim)
             (ice-9 popen)
             (rnrs bytevectors)
             (web client)
             (web request)
             (web response)
             (web uri))

(define url (env "NARHERDER_TEST_URL"))
(define root (env "NARHERDER_TEST_ROOT"))
(define texts (map read-file (guix-narinfo-files)))
(define (hash-of text)
  (substring (basename (narinfo-field text "StorePath")) 0 32))
(define hello "cs56i9digj9qg1bd383cmxc6xrfpdn9n")
(define hello-text (find (lambda (t) (string=? hello (hash-of t))) texts))
(define missing "00000000000000000000000000000000")

(define (example name)
  (string-append root "/examples/guile/" name))

(define (guile-command . args)
  `("guile" "--no-auto-compile" ,@args))

(define (run-example . args)
  "Run an example script; return (exit-status . output)."
  (let* ((port (apply open-pipe* OPEN_READ (apply guile-command args)))
         (output (read-string port))
         (status (close-pipe port)))
    (cons (status:exit-val status) output)))

(define (start-server . args)
  "Start publish.scm; return (pid . base-url) once it listens."
  (match (pipe)
    ((in . out)
     (let ((pid (primitive-fork)))
       (if (zero? pid)
           (begin
             (close-port in)
             (dup2 (fileno out) 1)
             (apply execlp "guile"
                    (apply guile-command (example "publish.scm") args))
             (primitive-_exit 127))
           (begin
             (close-port out)
             (let ((line (read-line in)))
               (close-port in)
               (unless (and (string? line)
                            (string-prefix? "listening on " line))
                 (error "publish.scm did not start" line))
               (cons pid (substring line (string-length "listening on "))))))))))

(define (stop-server pid)
  (kill pid SIGTERM)
  (status:exit-val (cdr (waitpid pid))))

(define (call-with-server args proc)
  "Start publish.scm with ARGS, call PROC with its pid and base URL, and
make sure the server is gone afterwards."
  (match (apply start-server args)
    ((pid . base)
     (let ((stopped? #f))
       (dynamic-wind
         (const #t)
         (lambda ()
           (proc base (lambda ()
                        (set! stopped? #t)
                        (stop-server pid))))
         (lambda ()
           (unless stopped?
             (false-if-exception (kill pid SIGKILL))
             (false-if-exception (waitpid pid)))))))))

(define (get base path . args)
  (call-with-values
      (lambda () (apply http-request (string-append base path)
                        #:decode-body? #f args))
    (lambda (response body)
      (list (response-code response)
            (car (response-content-type response))
            (response-content-length response)
            (assq-ref (response-headers response) 'cache-control)
            (and body (utf8->string body))))))

(define (pipelined base paths)
  "Write a GET for each of PATHS on one connection before reading anything;
read the answers in order (each exactly Content-Length bytes) and return
them as (code content-length body)."
  (let* ((uri (string->uri base))
         (ai (car (getaddrinfo (uri-host uri) (number->string (uri-port uri)))))
         (s (socket (addrinfo:fam ai) SOCK_STREAM 0)))
    (connect s (addrinfo:addr ai))
    (put-string-requests s uri paths)
    (let ((answers
           (map (lambda (_)
                  (let* ((response (read-response s))
                         (body (read-response-body response)))
                    (list (response-code response)
                          (response-content-length response)
                          (and body (utf8->string body)))))
                paths)))
      (close-port s)
      answers)))

(define (put-string-requests port uri paths)
  (display (string-concatenate
            (map (lambda (path)
                   (string-append "GET " path " HTTP/1.1\r\nHost: "
                                  (uri-host uri) "\r\n\r\n"))
                 paths))
           port)
  (force-output port))

(run-suite "bindings-server"
  (lambda ()
    (call-with-store url
      (lambda (store)
        (for-each (lambda (t) (add-narinfo! store t)) texts))
      #:store-directory "/gnu/store")

    (call-with-server
     (list "--database" url "--port" "0" "--ttl" "1234"
           "--negative-ttl" "56" "--node" "test-node")
     (lambda (base stop!)
       (test-group "publish.scm: single requests"
         (test-equal `(200 text/x-nix-cache-info 52 #f
                       "StoreDir: /gnu/store\nWantMassQuery: 0\nPriority: 100\n")
           (get base "nix-cache-info"))
         (match (get base (string-append hello ".narinfo"))
           ((code type len cache body)
            (test-equal 200 code)
            (test-equal 'application/x-nix-narinfo type)
            (test-equal (bytevector-length (string->utf8 hello-text)) len)
            (test-equal '((max-age . 1234)) cache)
            (test-equal "the stored text, byte for byte" hello-text body)))
         (match (get base (string-append missing ".narinfo"))
           ((code _ len cache body)
            (test-equal 404 code)
            (test-equal (string-length body) len)
            (test-equal '((max-age . 56)) cache)))
         (match (get base (string-append hello ".narinfo") #:method 'HEAD)
           ((code _ len _ body)
            (test-equal "HEAD hit" 200 code)
            (test-equal (bytevector-length (string->utf8 hello-text)) len)))
         (test-equal "HEAD miss" 404
           (car (get base (string-append missing ".narinfo") #:method 'HEAD)))
         (test-equal "not a narinfo" 404 (car (get base "nar/whatever")))
         (test-equal "405" 405 (car (get base "nix-cache-info" #:method 'POST))))

       (test-group "publish.scm: pipelined requests on one connection"
         (let* ((hashes (append (map hash-of texts) (list missing)))
                (paths (append
                        (map (lambda (h) (string-append "/" h ".narinfo"))
                             (append hashes (list missing) (reverse hashes)))
                        '("/nix-cache-info")))
                (answers (pipelined base paths))
                (expected (append texts '(#f #f #f) (reverse texts))))
           (test-equal (length paths) (length answers))
           (test-equal "in order, hits and misses"
             (append (map (lambda (t) (if t 200 404)) expected) '(200))
             (map car answers))
           (test-equal "bodies in order"
             (filter identity expected)
             (filter-map (lambda (a) (and (= 200 (car a)) (caddr a)))
                         (drop-right answers 1)))
           (test-assert "every Content-Length is right"
             (every (lambda (a)
                      (= (cadr a) (bytevector-length (string->utf8 (caddr a)))))
                    answers))))

       (test-equal "SIGTERM stops it cleanly" 0 (stop!))

       (test-group "publish.scm counted the requests"
         (call-with-store url
           (lambda (store)
             (let ((report (analytics-report store #:days 1 #:top 10)))
               ;; Hello: 1 GET, 1 HEAD, 2 pipelined; the miss: 1 GET, 1 HEAD, 3 pipelined.
               (test-equal 4 (cadr (assoc hello (analytics-report-top report))))
               (test-equal `((,missing . 5)) (analytics-report-missed report))))))))

    (test-group "import-and-root.scm"
      (let ((db (string-append "sqlite://" (tmp-file "example.db")))
            (dir (data-file "guix")))
        (match (run-example (example "import-and-root.scm") db dir
                            "channel/master"
                            (narinfo-field hello-text "StorePath"))
          ((status . output)
           (test-equal 0 status)
           (test-assert output
             (string-contains output "imported: 5 new, 0 unchanged, 0 rejected"))
           (test-assert (string-contains output "root channel/master: 1 items, 1 stored"))))
        ;; A second later nothing is within the grace period: only hello
        ;; (its references are not stored) is live.
        (usleep 1100000)
        (match (run-example (example "import-and-root.scm") db dir
                            "channel/master" hello)
          ((status . output)
           (test-equal 0 status)
           (test-assert output (string-contains output "0 new, 5 unchanged"))
           (test-assert output
             (string-contains output "gc dry run: 1 live, 4 dead, would delete 4 narinfos"))))
        (call-with-store db
          (lambda (store)
            (test-equal "a dry run deleted nothing" 5
              (count identity (narinfos-exist store (map hash-of texts))))))
        (match (run-example (example "import-and-root.scm") "nonsense://" dir "r" "x")
          ((status . output)
           (test-equal "a narherder error exits 1" 1 status)))))))
