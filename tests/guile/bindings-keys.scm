;;; SRFI-64 suite: keyrings, signature checks, secret keys and signing from
;;; Scheme (no store needed).

(use-modules (narherder)
             (bindings-support)
             (srfi srfi-1)
             (srfi srfi-64)
             (ice-9 match))

(define synthetic
  (data-file "guix" "0123456789abcdfghijklmnpqrsvwxyz.example-1.0.synthetic.narinfo"))
(define guix-keys
  (map (lambda (f) (data-file "guix" "keys" f))
       '("acl" "testhost.pub")))
(define nix-secret
  "cache.example.com-1:cCta2MEsRNuYCgWYyeRXLyfoFpKhQJKn8gLMeXWAb7vIpRKKo/3JoxJ24OYa3DxT2JVV38KjK/1ywHWuMe2JEw==")
(define nix-public
  "cache.example.com-1:yKUSiqP9yaMSduDmGtw8U9iVVd/Coyv9csB1rjHtiRM=")

(define (write-file name text)
  (let ((file (tmp-file name)))
    (call-with-output-file file (lambda (port) (display text port)))
    file))

(define (unsigned-part text)
  "TEXT without its Signature line."
  (string-join (remove (lambda (line) (string-prefix? "Signature: " line))
                       (string-split text #\newline))
               "\n"))

(run-suite "bindings-keys"
  (lambda ()
    (let ((keyring (load-keyring guix-keys)))
      (test-group "Guix keyring"
        (test-assert (keyring? keyring))
        (test-assert (not (keyring? 1)))
        (for-each (lambda (file)
                    (test-equal (basename file) 'valid
                      (verify-narinfo keyring (read-file file)))
                    (test-assert (valid-narinfo-signature?
                                  keyring (parse-narinfo (read-file file)))))
                  (guix-narinfo-files))
        (let* ((text (read-file synthetic))
               (tampered (string-replace text "NarSize: 121"
                                         (string-contains text "NarSize: 120")
                                         (+ (string-contains text "NarSize: 120")
                                            12))))
          (test-assert (string-contains tampered "NarSize: 121"))
          (test-equal "a bad signature is an answer, not an error"
            'hash-mismatch (verify-narinfo keyring tampered))
          (test-equal #f (valid-narinfo-signature? keyring tampered))
          (test-equal 'unsigned (verify-narinfo keyring (unsigned-part text))))
        (test-equal "another key" 'unauthorized-key
          (verify-narinfo (load-keyring (list (data-file "guix" "keys"
                                                         "bordeaux.guix.gnu.org.pub")))
                          (read-file synthetic)))
        (test-equal 'bad-narinfo
          (error-status (lambda () (verify-narinfo keyring "nonsense")))))

      (test-group "verdict-name"
        (test-equal "valid-signature" (verdict-name 'valid))
        (test-equal "unauthorized-key" (verdict-name 'unauthorized-key))
        (test-equal "unknown" (verdict-name 'whatever)))

      (test-group "Guix signing: the test vector"
        (let* ((key (load-secret-key (data-file "guix" "keys" "testhost.sec")))
               (text (read-file synthetic))
               (signed (sign-narinfo key (unsigned-part text) #:host "testhost")))
          (test-assert (secret-key? key))
          (test-assert (narinfo? signed))
          (test-equal "exactly the reference Signature line"
            (narinfo-field text "Signature")
            (narinfo-field (narinfo-contents signed) "Signature"))
          (test-equal text (narinfo-contents signed))
          (test-equal "re-signing replaces the line" text
            (narinfo-contents (sign-narinfo key text #:host "testhost")))
          (test-eq 'valid (verify-narinfo keyring signed))
          (let ((printed (with-output-to-string (lambda () (write key))))
                (secret (read-file (data-file "guix" "keys" "testhost.sec"))))
            (test-assert (string-prefix? "#<narherder-secret-key " printed))
            (test-assert "no key material printed"
              (not (string-contains printed "private-key")))
            (test-assert (not (string-contains secret printed)))))))

    (test-group "Nix keys"
      (let* ((secret (load-secret-key (write-file "nix.sec" nix-secret)))
             (keyring (load-keyring (list (write-file "nix.pub" nix-public))))
             (text (read-file (data-file "nix" "k20pahypzvr49fy82cw5sx72hdfg3qcr.texlive-hyphenex-ca-empty-refs.narinfo")))
             (signed (sign-narinfo secret text)))
        (test-equal 'unauthorized-key (verify-narinfo keyring text))
        (test-equal 'valid (verify-narinfo keyring signed))
        (test-assert (member (string-append "cache.example.com-1:")
                             (map (lambda (s) (substring s 0 20))
                                  (narinfo-field-values (narinfo-contents signed)
                                                        "Sig"))))
        (test-assert "printing hides the seed"
          (not (string-contains (with-output-to-string (lambda () (write secret)))
                                "cCta2")))
        (test-equal 'valid
          (verify-narinfo (load-keyring (list (data-file "nix" "keys.txt")))
                          text))))

    (test-group "import with a keyring"
      (call-with-store (env "NARHERDER_TEST_URL")
        (lambda (store)
          (let ((stats (import-narinfos
                        store (list (data-file "guix"))
                        #:keyring (load-keyring
                                   (list (data-file "guix" "keys" "testhost.pub"))))))
            (test-equal "only the narinfo signed by testhost" 1
              (import-stats-inserted stats))
            (test-equal 4 (import-stats-rejected stats))
            (test-equal '(#t)
              (narinfos-exist store '("0123456789abcdfghijklmnpqrsvwxyz")))))))

    (test-group "errors"
      (match (error-parts (lambda () (load-keyring (list (tmp-file "missing.pub")))))
        ((status origin message irritants)
         (test-equal 'io status)
         (test-equal 'load-keyring origin)
         (test-assert (string-contains message "missing.pub"))
         (test-equal (list (list (tmp-file "missing.pub"))) irritants))
        (_ (test-assert "raised" #f)))
      (test-equal 'bad-key
        (error-status (lambda ()
                        (load-keyring (list (write-file "bad.pub" "nonsense"))))))
      (test-equal 'bad-key
        (error-status (lambda ()
                        (load-secret-key (write-file "bad.sec" "(nonsense)")))))
      (test-equal 'io
        (error-status (lambda () (load-secret-key (tmp-file "missing.sec")))))
      (test-assert "not a key"
        (catch 'wrong-type-arg
          (lambda () (sign-narinfo 'key "x") #f)
          (const #t))))))
