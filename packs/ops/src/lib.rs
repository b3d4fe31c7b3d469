//! The example ops pack: the actions of the README's remediation workflow.
//! They compute what a clean-up would do and delete nothing, so the
//! example runs on any machine.

use serde::{Deserialize, Serialize};
use squall_sdk::{Context, Result};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanParams {
    path: String,
    used: f64,
    keep_days: u32,
}

#[derive(Serialize)]
struct Plan {
    path: String,
    keep_days: u32,
    summary: String,
}

/// What a clean-up of `path` would delete.
fn plan(params: PlanParams, _ctx: &Context) -> Result<Plan> {
    let percent = (params.used * 100.0).round();
    squall_sdk::log::info(&format!("{} is {percent}% full", params.path));
    Ok(Plan {
        summary: describe(&params.path, params.keep_days),
        path: params.path,
        keep_days: params.keep_days,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CleanParams {
    path: String,
    keep_days: u32,
}

#[derive(Serialize)]
struct Cleaned {
    cleaned: String,
}

/// Reports the clean-up as done.
fn clean(params: CleanParams, _ctx: &Context) -> Result<Cleaned> {
    let cleaned = format!("cleaned: {}", describe(&params.path, params.keep_days));
    squall_sdk::log::info(&cleaned);
    Ok(Cleaned { cleaned })
}

fn describe(path: &str, keep_days: u32) -> String {
    format!("files under {path} older than {keep_days} days")
}

squall_sdk::export_pack! {
    actions: { "plan" => plan, "clean" => clean },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_names_the_path_and_the_age() {
        assert_eq!(describe("/var", 7), "files under /var older than 7 days");
    }
}
