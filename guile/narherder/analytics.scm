;;; narherder --- narinfo store, GC and signing for Guix and Nix caches
;;;
;;; (narherder analytics): counting requests and reading the counts.

(define-module (narherder analytics)
  #:use-module (narherder ffi)
  #:use-module (narherder store)
  #:use-module (system foreign)
  #:use-module (rnrs bytevectors)
  #:use-module (srfi srfi-9)
  #:export (record-requests!
            analytics-report
            analytics-report?
            analytics-report-narinfo-hits
            analytics-report-narinfo-misses
            analytics-report-nar-downloads
            analytics-report-never-requested
            analytics-report-top
            analytics-report-missed))

(define-foreign %record uint32 "narherder_analytics_record"
  ('* '* size_t '* size_t '*))
(define-foreign %read uint32 "narherder_analytics_read"
  ('* uint32 uint32 '* '*))
(define-foreign %hits uint64 "narherder_analytics_report_narinfo_hits" ('*))
(define-foreign %misses uint64 "narherder_analytics_report_narinfo_misses"
  ('*))
(define-foreign %downloads uint64 "narherder_analytics_report_nar_downloads"
  ('*))
(define-foreign %never uint64 "narherder_analytics_report_never_requested"
  ('*))
(define-foreign %top-count size_t "narherder_analytics_report_top_count"
  ('*))
(define-foreign %top-hash '* "narherder_analytics_report_top_hash"
  ('* size_t))
(define-foreign %top-hits uint64
  "narherder_analytics_report_top_narinfo_hits" ('* size_t))
(define-foreign %top-downloads uint64
  "narherder_analytics_report_top_nar_downloads" ('* size_t))
(define-foreign %missed-count size_t
  "narherder_analytics_report_missed_count" ('*))
(define-foreign %missed-hash '* "narherder_analytics_report_missed_hash"
  ('* size_t))
(define-foreign %missed-misses uint64
  "narherder_analytics_report_missed_misses" ('* size_t))
(define-foreign %report-free void "narherder_analytics_report_free" ('*))

;; struct narherder_request: kind, hash, hash_len.
(define %request-layout (c-struct-layout (list uint32 '* size_t)))

(define %kinds '((narinfo-hit . 0) (narinfo-miss . 1) (nar-download . 2)))

(define-record-type <analytics-report>
  (make-analytics-report narinfo-hits narinfo-misses nar-downloads
                         never-requested top missed)
  analytics-report?
  (narinfo-hits analytics-report-narinfo-hits)
  (narinfo-misses analytics-report-narinfo-misses)
  (nar-downloads analytics-report-nar-downloads)
  (never-requested analytics-report-never-requested)
  (top analytics-report-top)
  (missed analytics-report-missed))

(define (record-requests! store node requests)
  "Count @var{requests} for the node @var{node} (a name written into every
row, e.g. the host name) in @var{store}, in one transaction.
@var{requests} is a list of pairs @code{(@var{kind} . @var{hash-part})}
where @var{kind} is @code{narinfo-hit}, @code{narinfo-miss} or
@code{nar-download}.  Batch requests: never one call per request.  Hits of
items not stored are dropped; a hit whose hash is no hash part raises a
@code{&narherder-error} with status @code{invalid-argument}."
  (let* ((layout %request-layout)
         (size (list-ref layout 3))
         (n (length requests))
         (array (make-bytevector (max size (* n size)) 0))
         (node-bv (string->utf8 node))
         (out (make-out-buffer 1))
         (bvs (map (lambda (request)
                     (unless (and (pair? request) (string? (cdr request)))
                       (raise-narherder-error
                        'invalid-argument 'record-requests!
                        "a request is a pair (KIND . HASH-PART), not ~s"
                        request))
                     (string->utf8 (cdr request)))
                   requests)))
    (let loop ((requests requests) (bvs bvs) (i 0))
      (unless (null? requests)
        (let ((kind (assq (car (car requests)) %kinds))
              (base (* i size)))
          (unless kind
            (raise-narherder-error
             'invalid-argument 'record-requests!
             "request kind must be one of ~s, not ~s"
             (map car %kinds) (car (car requests))))
          (bytevector-u32-native-set! array (+ base (list-ref layout 0))
                                      (cdr kind))
          (bytevector-uint-set! array (+ base (list-ref layout 1))
                                (pointer-address (utf8-pointer (car bvs)))
                                (native-endianness) (sizeof '*))
          (bytevector-uint-set! array (+ base (list-ref layout 2))
                                (bytevector-length (car bvs))
                                (native-endianness) (sizeof size_t))
          (loop (cdr requests) (cdr bvs) (+ i 1)))))
    (check-status (%record (store-pointer store) (utf8-pointer node-bv)
                           (bytevector-length node-bv)
                           (bytevector->pointer array) n
                           (out-buffer-pointer out 0))
                  out 0 'record-requests! (list node))
    (keep-alive bvs)
    (keep-alive store)
    *unspecified*))

(define* (analytics-report store #:key (days 1) (top 10))
  "Read the analytics of @var{store} for the last @var{days} days (today
included), all nodes, and return an @code{analytics-report} record: the
totals, @code{analytics-report-top}, a list of the @var{top} most
requested items as lists @code{(@var{hash-part} @var{narinfo-hits}
@var{nar-downloads})}, and @code{analytics-report-missed}, the @var{top}
most missed hash parts as pairs @code{(@var{hash-part} . @var{misses})}."
  (let ((out (make-out-buffer 2)))
    (check-status (%read (store-pointer store) days top
                         (out-buffer-pointer out 0) (out-buffer-pointer out 1))
                  out 1 'analytics-report (list store))
    (keep-alive store)
    (let* ((r (out-pointer-ref out 0))
           (report
            (make-analytics-report
             (%hits r) (%misses r) (%downloads r) (%never r)
             (map (lambda (i)
                    (list (pointer->utf8/null (%top-hash r i))
                          (%top-hits r i) (%top-downloads r i)))
                  (iota (%top-count r)))
             (map (lambda (i)
                    (cons (pointer->utf8/null (%missed-hash r i))
                          (%missed-misses r i)))
                  (iota (%missed-count r))))))
      (%report-free r)
      report)))

(document!
 (analytics-report? "Return #t when @var{obj} is an analytics-report record.")
 (analytics-report-narinfo-hits
  "Return the narinfo hits of the period of @var{report} (all nodes).")
 (analytics-report-narinfo-misses
  "Return the narinfo misses of the period of @var{report} (all nodes).")
 (analytics-report-nar-downloads
  "Return the nar downloads of the period of @var{report} (all nodes).")
 (analytics-report-never-requested
  "Return the number of stored items nobody requested in the period of
@var{report}.")
 (analytics-report-top
  "Return the most requested items of @var{report}: a list of lists
@code{(@var{hash-part} @var{narinfo-hits} @var{nar-downloads})}, most
requested first.")
 (analytics-report-missed
  "Return the most missed hash parts of @var{report}: a list of pairs
@code{(@var{hash-part} . @var{misses})}, most missed first."))
