//! What each subscription of this database is doing: its state, how far it
//! is behind its publisher and when it last heard from it.
//!
//! The subscriber's catalogs give the state (`pg_subscription`,
//! `pg_subscription_rel`, `pg_stat_subscription`). Lag needs the
//! publisher's side: when the subscription's connection string is readable
//! (a superuser, as PostgreSQL 15 requires for subscriptions anyway),
//! narherder asks the publisher, with a short timeout, how much WAL the
//! subscription's slot has not confirmed and what lag its WAL sender
//! measures. When the publisher cannot be asked, lag is unknown (`None`),
//! and [`SubscriptionStatus::last_message`] tells how stale the mirror may
//! be.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::conninfo::ConnInfo;
use crate::store::{Backend, Store};
use crate::Result;

/// What a subscription is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionState {
    /// Disabled (`ALTER SUBSCRIPTION … DISABLE`, or after an error with
    /// `disable_on_error`): nothing is applied.
    Disabled,
    /// The initial copy is under way: `ready` of `total` tables are done.
    Copying {
        /// Tables copied and caught up.
        ready: u32,
        /// Tables in the subscription.
        total: u32,
    },
    /// Every table is copied and the apply worker is running.
    Streaming,
    /// Enabled but no apply worker is running: the publisher is
    /// unreachable, or applying failed and is being retried (see the
    /// PostgreSQL log).
    Down,
}

impl SubscriptionState {
    /// A short name: `disabled`, `copying`, `streaming` or `down`.
    pub fn as_str(&self) -> &'static str {
        match self {
            SubscriptionState::Disabled => "disabled",
            SubscriptionState::Copying { .. } => "copying",
            SubscriptionState::Streaming => "streaming",
            SubscriptionState::Down => "down",
        }
    }
}

impl fmt::Display for SubscriptionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubscriptionState::Copying { ready, total } => {
                write!(f, "copying ({ready} of {total} tables ready)")
            }
            other => f.write_str(other.as_str()),
        }
    }
}

/// The state of one subscription of this database.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionStatus {
    /// The subscription's name.
    pub name: String,
    /// The publications it subscribes to.
    pub publications: Vec<String>,
    /// Whether it is enabled.
    pub enabled: bool,
    /// What it is doing.
    pub state: SubscriptionState,
    /// The apply worker's process id, when one runs.
    pub worker_pid: Option<i32>,
    /// The last WAL position received from the publisher (`0/16B3748`).
    pub received_lsn: Option<String>,
    /// WAL bytes the publisher has written that the subscription has not
    /// confirmed (`None`: the publisher could not be asked).
    pub lag_bytes: Option<i64>,
    /// Seconds between a commit on the publisher and its application here,
    /// as the publisher's WAL sender last measured it; `0` when it streams
    /// and has nothing to catch up on (`None`: unknown).
    pub lag_seconds: Option<f64>,
    /// When the last message (data or keep-alive) from the publisher
    /// arrived.
    pub last_message: Option<SystemTime>,
    /// Why the publisher could not be asked for the lag, if it could not.
    pub publisher_error: Option<String>,
}

const LOCAL: &str = "SELECT s.oid::int8, s.subname, s.subenabled, s.subslotname::text, \
       array_to_string(s.subpublications, ','), st.pid, st.received_lsn::text, \
       extract(epoch FROM st.last_msg_receipt_time)::float8, \
       (SELECT count(*) FROM pg_subscription_rel r WHERE r.srsubid = s.oid), \
       (SELECT count(*) FROM pg_subscription_rel r WHERE r.srsubid = s.oid \
          AND r.srsubstate = 'r') \
     FROM pg_subscription s \
     LEFT JOIN pg_stat_subscription st ON st.subid = s.oid AND st.relid IS NULL \
     WHERE s.subdbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
     ORDER BY s.subname";

const CONNINFO: &str = "SELECT subconninfo FROM pg_subscription WHERE oid = $1::oid";

/// Asked of the publisher: unconfirmed WAL bytes of the slot, the lag its
/// WAL sender measured, and whether a WAL sender serves it.
const REMOTE: &str = "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), s.confirmed_flush_lsn)::int8, \
       extract(epoch FROM r.replay_lag)::float8, s.active \
     FROM pg_replication_slots s LEFT JOIN pg_stat_replication r ON r.pid = s.active_pid \
     WHERE s.slot_name = $1";

/// How long asking a publisher for the lag may take.
const PUBLISHER_TIMEOUT: Duration = Duration::from_secs(2);

type LocalRow = (
    i64,
    String,
    bool,
    Option<String>,
    Option<String>,
    Option<i32>,
    Option<String>,
    Option<f64>,
    i64,
    i64,
);

/// The subscriptions of the store's database with their state and lag,
/// by name. Empty on SQLite and when there are none.
pub async fn subscription_status(store: &Store) -> Result<Vec<SubscriptionStatus>> {
    let pool = match store.backend() {
        Backend::Postgres(pool) => pool,
        Backend::Sqlite(_) => return Ok(Vec::new()),
    };
    let rows: Vec<LocalRow> = sqlx::query_as(LOCAL).fetch_all(pool).await?;
    let mut out = Vec::with_capacity(rows.len());
    for (oid, name, enabled, slot, pubs, pid, lsn, receipt, total, ready) in rows {
        let total = u32::try_from(total).unwrap_or(u32::MAX);
        let ready = u32::try_from(ready).unwrap_or(u32::MAX);
        let state = if !enabled {
            SubscriptionState::Disabled
        } else if ready < total {
            SubscriptionState::Copying { ready, total }
        } else if pid.is_some() {
            SubscriptionState::Streaming
        } else {
            SubscriptionState::Down
        };
        let mut status = SubscriptionStatus {
            name,
            publications: pubs
                .unwrap_or_default()
                .split(',')
                .filter(|p| !p.is_empty())
                .map(str::to_string)
                .collect(),
            enabled,
            state,
            worker_pid: pid,
            received_lsn: lsn,
            lag_bytes: None,
            lag_seconds: None,
            last_message: receipt.and_then(time_of),
            publisher_error: None,
        };
        if let Some(slot) = slot {
            match publisher_lag(pool, oid, &slot).await {
                Ok((bytes, seconds, active)) => {
                    status.lag_bytes = Some(bytes.max(0));
                    status.lag_seconds = match seconds {
                        Some(s) => Some(s.max(0.0)),
                        // The WAL sender drops its measurement once it has
                        // nothing left to send.
                        None if active && state == SubscriptionState::Streaming => Some(0.0),
                        None => None,
                    };
                }
                Err(e) => status.publisher_error = Some(e),
            }
        } else {
            status.publisher_error = Some("the subscription has no replication slot".into());
        }
        out.push(status);
    }
    Ok(out)
}

/// Asks the publisher of subscription `oid` about its slot `slot`.
async fn publisher_lag(
    pool: &sqlx::PgPool,
    oid: i64,
    slot: &str,
) -> std::result::Result<(i64, Option<f64>, bool), String> {
    let conninfo: String = sqlx::query_scalar(CONNINFO)
        .bind(oid)
        .fetch_one(pool)
        .await
        .map_err(|e| format!("reading the connection string: {e}"))?;
    let info = ConnInfo::parse(&conninfo).map_err(|e| e.to_string())?;
    let mut conn = info
        .connect(PUBLISHER_TIMEOUT)
        .await
        .map_err(|e| e.to_string())?;
    let row: Option<(Option<i64>, Option<f64>, bool)> = tokio::time::timeout(
        PUBLISHER_TIMEOUT,
        sqlx::query_as(REMOTE).bind(slot).fetch_optional(&mut conn),
    )
    .await
    .map_err(|_| {
        format!(
            "{}: no answer within {PUBLISHER_TIMEOUT:?}",
            info.redacted()
        )
    })?
    .map_err(|e| format!("{}: {e}", info.redacted()))?;
    let _ = sqlx::Connection::close(conn).await;
    match row {
        Some((Some(bytes), seconds, active)) => Ok((bytes, seconds, active)),
        Some((None, _, _)) => Err(format!("slot {slot} has no confirmed position yet")),
        None => Err(format!("the publisher has no replication slot {slot}")),
    }
}

fn time_of(secs: f64) -> Option<SystemTime> {
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    UNIX_EPOCH.checked_add(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_and_times() {
        let copying = SubscriptionState::Copying { ready: 2, total: 6 };
        assert_eq!(copying.to_string(), "copying (2 of 6 tables ready)");
        assert_eq!(copying.as_str(), "copying");
        assert_eq!(SubscriptionState::Down.to_string(), "down");
        assert_eq!(
            time_of(1.5),
            UNIX_EPOCH.checked_add(Duration::from_millis(1500))
        );
        assert_eq!(time_of(-1.0), None);
        assert_eq!(time_of(f64::NAN), None);
    }
}
