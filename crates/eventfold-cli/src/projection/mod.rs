//! `eventfold projection`: run a query offline over events in a file
//! (`test`), or manage the projections of a running server over gRPC.

mod offline;
mod remote;

#[derive(clap::Args)]
pub struct ProjectionArgs {
    #[command(subcommand)]
    command: ProjectionCommand,
}

#[derive(clap::Subcommand)]
enum ProjectionCommand {
    /// Run a query over the events of a JSON-lines file, without a server,
    /// and print each partition's state and what it would emit.
    Test(offline::TestArgs),
    #[command(flatten)]
    Remote(remote::RemoteCommand),
}

pub fn run(args: ProjectionArgs) -> anyhow::Result<()> {
    match args.command {
        ProjectionCommand::Test(test) => offline::run(test),
        ProjectionCommand::Remote(command) => remote::run(command),
    }
}
