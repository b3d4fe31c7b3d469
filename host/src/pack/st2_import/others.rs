//! The parts of a StackStorm pack besides its actions and sensors: rules
//! and aliases (carried over unchanged when what they name exists, else
//! kept under `not_converted/`), and every other file (copied where it
//! was, and reported).

use std::collections::BTreeSet;

use super::python;
use super::report::{Item, Kind};
use super::scan::{NOT_CONVERTED, Scan, directly_in};
use super::{Contents, ImportError, Known};

impl Scan<'_> {
    pub(super) fn rules(
        &mut self,
        pack: &str,
        known: &Known<'_>,
        own: &BTreeSet<String>,
        own_triggers: &BTreeSet<String>,
    ) -> Result<(), ImportError> {
        for file in self.matching(|f| directly_in(f, "rules")) {
            self.files.remove(&file);
            let mut text = self.read(&file)?;
            let mut notes = Vec::new();
            let mut rule = crate::rules::Rule::from_yaml(&text, &file);
            // StackStorm gives a rule without `pack` the pack it is in.
            if rule.as_ref().is_ok_and(|r| {
                r.pack == crate::rules::DEFAULT_PACK && pack != crate::rules::DEFAULT_PACK
            }) {
                text = format!(
                    "{}\n# Added by `squall pack import`: StackStorm gives a rule the pack it is in.\npack: {pack}\n",
                    text.trim_end()
                );
                rule = crate::rules::Rule::from_yaml(&text, &file);
                notes.push(format!("`pack: {pack}` added, as StackStorm assumes it"));
            }
            let reason = match &rule {
                Err(e) => Some(format!("Squall's rule loader refuses it: {e}")),
                Ok(r) if r.pack != pack => Some(format!(
                    "pack: the rule says `{}`, but it is in the pack `{pack}`",
                    r.pack
                )),
                Ok(r)
                    if !(known.trigger)(&r.trigger_type)
                        && !own_triggers.contains(&r.trigger_type) =>
                {
                    Some(format!(
                        "trigger.type: `{}` is neither a built-in trigger type nor one the pack's converted sensors declare",
                        r.trigger_type
                    ))
                }
                Ok(r) if !own.contains(&r.action_ref) && !(known.action)(&r.action_ref) => {
                    Some(format!(
                        "action.ref: `{}` is not an action of the converted pack, of core, or of the host",
                        r.action_ref
                    ))
                }
                Ok(_) => None,
            };
            let name = rule.as_ref().map(|r| r.name.clone()).unwrap_or_else(|_| file.clone());
            self.carry(Kind::Rule, &name, &file, text, reason, notes);
        }
        Ok(())
    }

    pub(super) fn aliases(
        &mut self,
        pack: &str,
        known: &Known<'_>,
        own: &BTreeSet<String>,
    ) -> Result<(), ImportError> {
        for file in self.matching(|f| directly_in(f, "aliases")) {
            self.files.remove(&file);
            let text = self.read(&file)?;
            let alias = crate::chatops::ActionAlias::from_yaml(&text, &file, Some(pack));
            let reason = match &alias {
                Err(e) => Some(format!("Squall's alias loader refuses it: {e}")),
                Ok(a) if !own.contains(&a.action_ref) && !(known.action)(&a.action_ref) => {
                    Some(format!(
                        "action_ref: `{}` is not an action of the converted pack, of core, or of the host",
                        a.action_ref
                    ))
                }
                Ok(_) => None,
            };
            let name = alias.as_ref().map(|a| a.name.clone()).unwrap_or_else(|_| file.clone());
            self.carry(Kind::Alias, &name, &file, text, reason, Vec::new());
        }
        Ok(())
    }

    /// A rule or alias: in place when it converted, else under
    /// `not_converted/`, where the build does not look.
    fn carry(
        &mut self,
        kind: Kind,
        name: &str,
        file: &str,
        text: String,
        reason: Option<String>,
        notes: Vec<String>,
    ) {
        let (target, item) = match reason {
            None => (file.to_owned(), Item { notes, ..Item::converted(kind, name, file) }),
            Some(reason) => {
                let target = format!("{NOT_CONVERTED}/{file}");
                let item =
                    Item::not_converted(kind, name, file, reason).note(format!("kept as {target}"));
                (target, item)
            }
        };
        self.out.push((target, Contents::Text(text)));
        self.items.push(item);
    }

    /// Every file no item claimed: copied where it was, and reported.
    pub(super) fn rest(&mut self, python: bool) {
        for link in std::mem::take(&mut self.links) {
            let reason =
                "a symbolic link: not followed, so that nothing outside the pack is copied";
            self.items.push(Item::not_converted(Kind::File, &link, &link, reason));
        }
        let layer: BTreeSet<&str> = python::LAYER.iter().map(|(p, _)| *p).collect();
        for file in std::mem::take(&mut self.files) {
            let clash = python && (layer.contains(file.as_str()) || file == python::ENTRY);
            // requirements.txt is not among them: scan.rs's `requirements`
            // takes it first.
            if clash {
                self.items.push(Item::not_converted(
                    Kind::File,
                    &file,
                    &file,
                    "the compatibility layer has a file of this name and replaces it",
                ));
                continue;
            } else if file.starts_with("actions/") {
                self.items.push(Item::copied(
                    &file,
                    "copied with actions/, where Python actions import from",
                ));
            } else if file.starts_with("sensors/") {
                self.items
                    .push(Item::copied(&file, "copied with sensors/, where sensors import from"));
            } else if file.starts_with("lib/") {
                self.items.push(Item::copied(
                    &file,
                    "the pack's shared Python code, on the Python actions' path",
                ));
            } else {
                self.items.push(Item::copied(&file, "not used by Squall"));
            }
            if !file.starts_with("actions/") && !file.starts_with("sensors/") {
                self.copy(&file, &file);
            }
        }
    }
}
