//! `narherder replication`: publications, subscriptions and their state
//! (PostgreSQL logical replication between a primary and its mirrors).

use std::time::SystemTime;

use narherder::replication::{self as repl, ConnInfo, SubscribeOptions};
use narherder::size::format_size;

use crate::{Ctx, EXIT_PARTIAL};

/// Arguments of `narherder replication`.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  narherder --database postgres://narherder@primary/narherder replication publish
  narherder --database postgres:///narherder replication subscribe \\
      --from 'host=primary.example dbname=narherder user=replicator'
  narherder --database postgres:///narherder replication status")]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// On the primary: publish the store for mirrors (idempotent). With
    /// --analytics, publish this node's analytics rows instead (a mirror
    /// does it when it subscribes).
    #[command(after_help = "Examples:
  narherder --database postgres:///narherder replication publish
  narherder --database postgres:///narherder replication publish --analytics")]
    Publish {
        /// Publish the analytics tables, not the store.
        #[arg(long)]
        analytics: bool,
    },
    /// On a mirror: follow the primary's store (creates the schema and the
    /// subscription, waits for the initial copy). With --analytics, on the
    /// primary: gather a mirror's analytics.
    #[command(after_help = "Examples:
  narherder --database postgres:///narherder replication subscribe \\
      --from 'host=primary.example dbname=narherder user=replicator'
  narherder --database postgres:///narherder replication subscribe --analytics \\
      --from 'host=mirror-eu.example dbname=narherder user=replicator' --name analytics_eu")]
    Subscribe {
        /// The publisher's libpq connection string
        /// (`host=… port=… dbname=… user=…` or `postgres://…`), as this
        /// database's server will use it.
        #[arg(long, value_name = "CONNINFO")]
        from: String,
        /// Subscription (and replication slot) name; default derived from
        /// the database's identity.
        #[arg(long)]
        name: Option<String>,
        /// Subscribe to a mirror's analytics (run on the primary).
        #[arg(long)]
        analytics: bool,
        /// Empty this database's store tables first (e.g. a mirror moving
        /// to a new primary).
        #[arg(long)]
        replace_data: bool,
        /// Return once the subscription exists, without waiting for the
        /// initial copy.
        #[arg(long)]
        no_wait: bool,
    },
    /// Show each subscription's state, lag and last message; exits with 1
    /// when one is not streaming.
    #[command(after_help = "Example:
  narherder --database postgres:///narherder replication status || alert-the-operator")]
    Status,
    /// Drop a subscription (default: every narherder subscription of this
    /// database). Idempotent.
    #[command(after_help = "Examples:
  narherder --database postgres:///narherder replication unsubscribe
  narherder --database postgres:///narherder replication unsubscribe --name mirror_1")]
    Unsubscribe {
        /// The subscription to drop.
        #[arg(long)]
        name: Option<String>,
    },
}

/// Runs `narherder replication`.
pub async fn run(ctx: &Ctx, args: Args) -> anyhow::Result<u8> {
    let store = ctx.open().await?;
    let result = match args.command {
        Command::Publish { analytics } => publish(&store, analytics).await,
        Command::Subscribe {
            from,
            name,
            analytics,
            replace_data,
            no_wait,
        } => {
            let options = SubscribeOptions {
                from: ConnInfo::parse(&from)?,
                name,
                analytics,
                replace_data,
                wait: !no_wait,
            };
            subscribe(&store, &options).await
        }
        Command::Status => status(&store).await,
        Command::Unsubscribe { name } => unsubscribe(&store, name.as_deref()).await,
    };
    store.close().await;
    result
}

async fn publish(store: &narherder::store::Store, analytics: bool) -> anyhow::Result<u8> {
    let r = if analytics {
        repl::publish_analytics(store).await?
    } else {
        repl::publish(store).await?
    };
    let what = if r.created {
        "created"
    } else if r.altered {
        "corrected"
    } else {
        "already in place"
    };
    println!(
        "publication {}: {what} ({})",
        r.publication,
        r.tables.join(", ")
    );
    Ok(0)
}

async fn subscribe(
    store: &narherder::store::Store,
    options: &SubscribeOptions,
) -> anyhow::Result<u8> {
    eprintln!(
        "subscribing to {} of {}",
        if options.analytics {
            "the analytics"
        } else {
            "the store"
        },
        options.from.redacted()
    );
    let mut last = None;
    let r = repl::subscribe(store, options, |p| {
        let now = (p.ready, p.bytes / (16 << 20));
        if last != Some(now) {
            last = Some(now);
            eprintln!(
                "initial copy: {}/{} table(s) ready, {} copied, {:.1}s",
                p.ready,
                p.total,
                format_size(p.bytes),
                p.elapsed.as_secs_f64()
            );
        }
    })
    .await?;
    if r.rows_discarded > 0 {
        println!("discarded {} local store row(s)", r.rows_discarded);
    }
    for node in &r.replaced_nodes {
        println!("analytics of node {node}: copied again from the publisher");
    }
    println!(
        "subscription {}: {} ({} table(s){})",
        r.name,
        if r.created {
            "created"
        } else {
            "already in place"
        },
        r.tables,
        if options.wait { ", copied" } else { "" }
    );
    if !options.analytics {
        match &r.analytics_published {
            Ok(()) => println!(
                "this node's analytics are published: on the primary run \
                 `narherder replication subscribe --analytics --from <this database>`"
            ),
            Err(e) => println!("analytics not published (they stay here): {e}"),
        }
    }
    Ok(0)
}

async fn status(store: &narherder::store::Store) -> anyhow::Result<u8> {
    let all = repl::subscription_status(store).await?;
    if all.is_empty() {
        println!("no subscriptions");
        return Ok(0);
    }
    let mut code = 0;
    for s in &all {
        if s.state != repl::SubscriptionState::Streaming {
            code = EXIT_PARTIAL;
        }
        println!("{}  ({})", s.name, s.publications.join(", "));
        println!("  state:         {}", s.state);
        println!(
            "  lag:           {}, {}",
            s.lag_bytes.map_or("? bytes".into(), |b| format_size(
                u64::try_from(b).unwrap_or(0)
            )),
            s.lag_seconds.map_or("? s".into(), |t| format!("{t:.3} s"))
        );
        let ago = s
            .last_message
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .map_or("never".into(), |d| format!("{:.1} s ago", d.as_secs_f64()));
        println!("  last message:  {ago}");
        if let Some(lsn) = &s.received_lsn {
            println!("  received LSN:  {lsn}");
        }
        if let Some(e) = &s.publisher_error {
            println!("  publisher:     {e}");
        }
    }
    Ok(code)
}

async fn unsubscribe(store: &narherder::store::Store, name: Option<&str>) -> anyhow::Result<u8> {
    let dropped = repl::unsubscribe(store, name).await?;
    if dropped.is_empty() {
        println!("no subscription to drop");
    }
    for d in &dropped {
        println!("subscription {}: dropped", d.name);
        if let Some(slot) = &d.slot_left {
            println!(
                "  the publisher could not be reached: its replication slot {slot} remains; \
                 once it is back, run there: SELECT pg_drop_replication_slot('{slot}')"
            );
        }
    }
    Ok(0)
}
