//! `squall pack import ST2_PACK_DIR [-o DIR]`: a StackStorm pack turned
//! into a Squall pack source directory (`pack::st2_import`), and the
//! import report printed: per action, workflow, sensor, rule, alias and
//! file, whether it converted and why not.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::pack::Manifest;
use crate::pack::st2_import::{self, Known};

/// The core pack's manifest, as `squall serve` embeds it.
const CORE_MANIFEST: &str = include_str!(env!("SQUALL_CORE_PACK_MANIFEST"));

#[derive(Debug, clap::Args)]
pub(crate) struct ImportArgs {
    /// The StackStorm pack's directory (with `pack.yaml`).
    #[arg(value_name = "ST2_PACK_DIR")]
    dir: PathBuf,
    /// Where to write the Squall pack; it must not exist or be empty
    /// [default: ./NAME, the pack's name].
    #[arg(long, short, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Print the import report as one JSON object (`pack`, `version`,
    /// `out`, `items`, `summary`) instead of text.
    #[arg(long)]
    json: bool,
}

pub(crate) fn import(args: ImportArgs, stdout: &mut dyn Write) -> anyhow::Result<u8> {
    let builtin = crate::engine::TriggerTypes::builtin();
    let trigger = |name: &str| builtin.get(name).is_some();
    let core = Manifest::from_toml(CORE_MANIFEST, Path::new("core/pack.toml (built into squall)"))?;
    let builtins = crate::engine::Actions::default();
    // The core pack every server has (built into squall), and the host's
    // own actions: StackStorm's `core.local` and the like are not there.
    let action = |reference: &str| {
        let core_action =
            reference.strip_prefix("core.").is_some_and(|name| core.actions.contains_key(name));
        core_action || builtins.get(reference).is_some()
    };
    let plan = st2_import::plan(&args.dir, &Known { trigger: &trigger, action: &action })?;
    let out = args.out.unwrap_or_else(|| PathBuf::from(&plan.report.pack));
    st2_import::write(&plan, &out)?;
    if args.json {
        let mut report = serde_json::to_value(&plan.report)?;
        report["out"] = out.display().to_string().into();
        super::output::print_json(stdout, &report)?;
    } else {
        write!(stdout, "{}", plan.report.to_text())?;
        writeln!(stdout, "wrote {}; next: squall pack build {}", out.display(), out.display())?;
    }
    Ok(0)
}
