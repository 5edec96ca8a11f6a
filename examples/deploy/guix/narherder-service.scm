;;; narherder as a Guix System service: the server under Shepherd and a
;;; nightly garbage collection under mcron, then an operating-system that
;;; uses it.  Load it from your system configuration (or copy the definitions
;;; into a module of your channel) and run `guix system reconfigure`.
;;;
;;; `program` is the narherder executable: a file name (as installed by
;;; scripts/install) or a file-like object such as
;;; (file-append narherder "/bin/narherder") when you package it.

(use-modules (gnu)
             (gnu services)
             (gnu services shepherd)
             (gnu services mcron)
             (gnu system shadow)
             (gnu packages admin)
             (guix gexp)
             (guix records)
             (ice-9 match))

(define-record-type* <narherder-configuration>
  narherder-configuration make-narherder-configuration
  narherder-configuration?
  (program      narherder-configuration-program     ;string | file-like
                (default "/usr/local/bin/narherder"))
  (database     narherder-configuration-database    ;string: the database URL
                (default "sqlite:///var/lib/narherder/narherder.db"))
  (storage      narherder-configuration-storage     ;string: nar files
                (default "/var/lib/narherder/nars"))
  (listen       narherder-configuration-listen      ;string: "ADDR:PORT"
                (default "127.0.0.1:8080"))
  (node-name    narherder-configuration-node-name   ;string | #f: host name
                (default #f))
  (token-file   narherder-configuration-token-file  ;string | #f
                (default #f))
  (sign-key     narherder-configuration-sign-key    ;string | #f
                (default #f))
  (gc-schedule  narherder-configuration-gc-schedule ;mcron time spec
                (default "30 3 * * *"))
  (gc-grace     narherder-configuration-gc-grace    ;string: a duration
                (default "1d"))
  (extra-options narherder-configuration-extra-options ;list of strings
                 (default '())))

(define %narherder-accounts
  (list (user-group (name "narherder") (system? #t))
        (user-account
         (name "narherder")
         (group "narherder")
         (system? #t)
         (comment "narherder binary cache server")
         (home-directory "/var/lib/narherder")
         (shell (file-append shadow "/sbin/nologin")))))

(define (narherder-activation config)
  (match-record config <narherder-configuration> (storage)
    #~(begin
        (use-modules (guix build utils))
        (let ((user (getpwnam "narherder")))
          (for-each (lambda (dir)
                      (mkdir-p dir)
                      (chown dir (passwd:uid user) (passwd:gid user))
                      (chmod dir #o750))
                    (list "/var/lib/narherder" #$storage))))))

(define (narherder-serve-command config)
  (match-record config <narherder-configuration>
    (program storage listen node-name token-file sign-key extra-options)
    `(,program "serve" "--storage" ,storage "--listen" ,listen
               ,@(if node-name (list "--node-name" node-name) '())
               ,@(if token-file (list "--token-file" token-file) '())
               ,@(if sign-key (list "--sign-key" sign-key) '())
               ,@extra-options)))

(define (narherder-shepherd-services config)
  (match-record config <narherder-configuration> (database)
    (list (shepherd-service
           (provision '(narherder))
           (requirement '(user-processes networking))
           (documentation "Serve Guix and Nix narinfos and nar files.")
           (start #~(make-forkexec-constructor
                     (list #$@(narherder-serve-command config))
                     #:user "narherder"
                     #:group "narherder"
                     #:environment-variables
                     (list #$(string-append "NARHERDER_DATABASE=" database))
                     #:log-file "/var/log/narherder.log"))
           ;; SIGTERM: requests in flight finish, analytics are written.
           (stop #~(make-kill-destructor SIGTERM))))))

(define (narherder-mcron-jobs config)
  (match-record config <narherder-configuration>
    (program database storage gc-schedule gc-grace)
    (list #~(job #$gc-schedule
                 (lambda ()
                   (setenv "NARHERDER_DATABASE" #$database)
                   (system* #$program "gc" "--storage" #$storage
                            "--grace" #$gc-grace))
                 "narherder-gc"
                 #:user "narherder"))))

(define narherder-service-type
  (service-type
   (name 'narherder)
   (extensions
    (list (service-extension shepherd-root-service-type
                             narherder-shepherd-services)
          (service-extension account-service-type
                             (const %narherder-accounts))
          (service-extension activation-service-type
                             narherder-activation)
          (service-extension mcron-service-type
                             narherder-mcron-jobs)))
   (default-value (narherder-configuration))
   (description
    "Run the narherder binary cache server, which serves narinfos and nar
files to @command{guix substitute} and Nix clients, and collect its garbage
every night.")))

;;; An operating system serving a substitute cache.  (Put nginx in front for
;;; TLS: examples/deploy/nginx/narherder.conf.)

(operating-system
  (host-name "cache")
  (timezone "Etc/UTC")
  (bootloader (bootloader-configuration
               (bootloader grub-bootloader)
               (targets '("/dev/sda"))))
  (file-systems (cons (file-system
                        (device (file-system-label "root"))
                        (mount-point "/")
                        (type "ext4"))
                      %base-file-systems))
  (services
   (cons* (service narherder-service-type
                   (narherder-configuration
                    (database "sqlite:///var/lib/narherder/narherder.db")
                    (storage "/var/lib/narherder/nars")
                    (node-name "cache-eu-1")
                    (token-file "/etc/narherder/tokens")
                    (gc-schedule "30 3 * * *")))
          (service mcron-service-type)
          (service openssh-service-type)
          %base-services)))
