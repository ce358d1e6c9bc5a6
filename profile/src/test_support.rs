//! What the profile crate's tests share: a profile written as a fixed head plus one section
//! (`load:` or `data:`), parsed as a named file, the error text of one that must fail, and a
//! fleet of client agents to plan for.

use crate::{parse_profile, LoadedProfile, ProfileError};
use fleetbench_model::role::Role;
use fleetbench_model::spec::Member;
use std::path::Path;

/// A profile text of `head` followed by one `key: value` section, read as the file `file`.
pub(crate) struct Section {
    /// The profile's other sections, each line ending in `\n`.
    pub(crate) head: &'static str,
    /// The top-level key the tested value is written under (`load`, `data`).
    pub(crate) key: &'static str,
    /// The file the profile is read as; its stem is the profile's name.
    pub(crate) file: &'static str,
}

impl Section {
    /// The profile with `value` as this section.
    pub(crate) fn parse(&self, value: &str) -> Result<LoadedProfile, ProfileError> {
        let path = Path::new(self.file);
        let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("t");
        parse_profile(&format!("{}{}: {value}\n", self.head, self.key), path, name)
    }

    /// The error text of a profile with `value` as this section, which must be refused.
    pub(crate) fn err_of(&self, value: &str) -> String {
        self.parse(value).unwrap_err().to_string()
    }
}

/// `n` client agents `a0`, `a1`, … on one host `h`.
pub(crate) fn members(n: usize) -> Vec<Member> {
    (0..n)
        .map(|i| Member {
            agent_id: format!("a{i}"),
            role: Role::Client,
            host_name: "h".into(),
        })
        .collect()
}
