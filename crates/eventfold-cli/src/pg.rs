//! `eventfold pg ...`: PostgreSQL tasks. `pg import` copies an existing
//! events table (the shape most hand-made stores start from) into an
//! eventfold store, on PostgreSQL or in a data directory, keeping every
//! stream's versions and the table's order.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};
use eventfold_engine::{Engine, EngineConfig};
use eventfold_postgres::{PostgresConfig, PostgresStore, SeedTable, import_seed_table};
use eventfold_store::EventStore;

use crate::progress::ProgressBar;

#[derive(Args)]
pub struct PgArgs {
    #[command(subcommand)]
    command: PgCommand,
}

#[derive(Subcommand)]
enum PgCommand {
    /// Copy an events table (stream_id, version, event_type, event_data,
    /// metadata, global_position; event_id when there is one) into an
    /// eventfold store. Running it again writes nothing twice.
    Import(ImportArgs),
}

#[derive(Args)]
struct ImportArgs {
    /// The database holding the table, `postgres://user@host/db`.
    #[arg(long)]
    from: String,
    /// The table: `events` or `schema.table`.
    #[arg(long, default_value = "events")]
    table: String,
    /// The version a stream's first event has in the table (it becomes
    /// revision 0); by default the table's smallest version.
    #[arg(long)]
    first_version: Option<i64>,
    /// The eventfold store on PostgreSQL to import into (nodes may be
    /// serving it meanwhile)...
    #[arg(long, env = "EVENTFOLD_STORE", conflicts_with = "db")]
    store: Option<String>,
    /// ...or the data directory of a stopped embedded node.
    #[arg(long)]
    db: Option<PathBuf>,
}

pub fn run(args: PgArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    match args.command {
        PgCommand::Import(args) => runtime.block_on(import(args)),
    }
}

async fn import(args: ImportArgs) -> anyhow::Result<()> {
    let (target, engine): (Arc<dyn EventStore>, Option<Engine>) = match (&args.store, &args.db) {
        (Some(url), None) => {
            let store = PostgresStore::open(PostgresConfig::new(url)).await.context("opening the eventfold store")?;
            (Arc::new(store), None)
        }
        (None, Some(dir)) => {
            let config = EngineConfig::new(dir);
            let engine = tokio::task::spawn_blocking(move || Engine::open(config))
                .await
                .context("opening the engine")?
                .with_context(|| format!("opening the database in {}", dir.display()))?;
            (Arc::new(engine.clone()), Some(engine))
        }
        _ => anyhow::bail!("say where to import to: --store postgres://... or --db DIR"),
    };
    let source = SeedTable { url: args.from.clone(), table: args.table.clone(), first_version: args.first_version };
    let mut bar = ProgressBar::new("import");
    let imported = import_seed_table(&source, target.as_ref(), |progress| {
        let amount = format!("{}/{} rows", progress.rows_done, progress.rows_total);
        bar.show_amount("rows", progress.rows_done, progress.rows_total, &amount);
    })
    .await;
    bar.end();
    if let Some(engine) = engine {
        engine.shutdown().await;
    }
    let report = imported.with_context(|| format!("importing {}", args.table))?;
    println!("{}", serde_json::json!({ "events": report.events, "table": args.table }));
    Ok(())
}
