//! `ordo plan`: source -> manifests -> plan -> text or JSON. No cluster.

use std::process::ExitCode;

use clap::{Args, ValueEnum};

use super::input::{self, InputArgs};
use super::plan_output as render;
use super::{CliError, EXIT_BAD_INPUT};

pub const AFTER_HELP: &str = "\
Tiers come from, in this order: the ordo.dev/tier annotation, the app.kubernetes.io/component
label, the kind, the container images, and a default (backend). Dependencies come from pod
templates (envFrom, valueFrom, volumes, service accounts), Service names found in env values,
args and mounted ConfigMaps, Ingress backends, HPA targets, bindings, storage classes,
namespaces, CRDs, monitors, ordo.dev/depends-on and argocd.argoproj.io/sync-wave.

Exit codes: 0 the plan was built, 2 bad input (the error names file, document and field).

Examples:
  ordo plan examples/travel-app
  ordo plan examples/travel-app -o json | jq '.steps[] | {step, id, tier}'
  ordo plan ./deploy-repo --ref v1.4.0 --path apps/travel --namespace staging";

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// With --config: the app to plan.
    #[arg(long, requires = "config")]
    pub app: Option<String>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

pub fn run(mut args: PlanArgs) -> ExitCode {
    let loaded = input::resolve(&mut args.input, args.app.as_deref())
        .map_err(CliError::from)
        .and_then(|()| {
            let rt = super::runtime()?;
            Ok(rt.block_on(input::load(&args.input, None))?)
        });
    let loaded = match loaded {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    match args.output {
        Output::Text => print!("{}", render::to_text(&loaded.plan, &loaded.source)),
        Output::Json => println!("{}", render::to_json(&loaded.plan, &loaded.source)),
    }
    ExitCode::SUCCESS
}
