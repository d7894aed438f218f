//! Which part of the fleet one process runs: shard `K/N` runs the modules whose global index `i`
//! has `i % N == K`, so that the N shards are disjoint, their union is the fleet, and every shard
//! holds a share of each group. A module's identity, coverage and schedule depend only on `i`
//! and the fleet's seed, so it behaves alike in whichever shard runs it.
//!
//! On Kubernetes an Indexed Job gives each pod `JOB_COMPLETION_INDEX`; the number of completions
//! is not in the pod's environment, so the manifest passes it as `NBMODEM_FLEET_SHARDS`
//! (deploy/kubernetes/fleet-job.yaml).

use std::fmt;
use std::str::FromStr;

/// The environment variables of an Indexed Job's pod.
pub const INDEX_VARIABLE: &str = "JOB_COMPLETION_INDEX";
pub const COUNT_VARIABLE: &str = "NBMODEM_FLEET_SHARDS";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("bad shard {0:?}: write K/N with 0 <= K < N (e.g. 0/4)")]
pub struct BadShard(pub String);

impl Shard {
    /// The whole fleet in one process.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// Whether the module with global index `index` is this shard's.
    pub fn owns(self, index: usize) -> bool {
        index % self.count == self.index
    }

    /// The shard the environment names (an Indexed Job's pod), if it names one.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Option<Shard>, BadShard> {
        match (get(INDEX_VARIABLE), get(COUNT_VARIABLE)) {
            (Some(index), Some(count)) => format!("{index}/{count}").parse().map(Some),
            (Some(index), None) => Err(BadShard(format!(
                "{INDEX_VARIABLE}={index} without {COUNT_VARIABLE}"
            ))),
            _ => Ok(None),
        }
    }
}

impl FromStr for Shard {
    type Err = BadShard;

    fn from_str(s: &str) -> Result<Shard, BadShard> {
        let bad = || BadShard(s.to_string());
        let (index, count) = s.split_once('/').ok_or_else(bad)?;
        let index: usize = index.trim().parse().map_err(|_| bad())?;
        let count: usize = count.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_split_the_fleet_without_overlap() {
        let shards: Vec<Shard> = (0..3).map(|k| format!("{k}/3").parse().unwrap()).collect();
        for i in 0..30 {
            assert_eq!(shards.iter().filter(|s| s.owns(i)).count(), 1, "{i}");
        }
        for bad in ["3/3", "1", "a/b", "0/0"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn an_indexed_job_names_the_shard() {
        fn env(
            index: Option<&'static str>,
            count: Option<&'static str>,
        ) -> impl Fn(&str) -> Option<String> {
            move |name| match name {
                INDEX_VARIABLE => index.map(String::from),
                COUNT_VARIABLE => count.map(String::from),
                _ => None,
            }
        }
        assert_eq!(
            Shard::from_env(env(Some("2"), Some("4"))),
            Ok(Some(Shard { index: 2, count: 4 }))
        );
        assert_eq!(Shard::from_env(env(None, None)), Ok(None));
        assert!(Shard::from_env(env(Some("2"), None)).is_err());
    }
}
