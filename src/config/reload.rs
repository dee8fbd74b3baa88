//! What a reload (SIGHUP, `/-/reload`) has to restart, following Prometheus's
//! `WriteStorage.ApplyConfig`: an endpoint whose [`ConfigHash`](super::ConfigHash) is unchanged
//! keeps its queue, unless the external labels changed, which restarts every queue (they are
//! part of every series sent).

use super::Config;

/// The difference between the running config and a newly loaded one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadPlan {
    /// `(old index, new index)` of endpoints that keep running untouched.
    pub keep: Vec<(usize, usize)>,
    /// Old endpoints to stop (flush and shut down), by index in the old config.
    pub stop: Vec<usize>,
    /// New endpoints to start, by index in the new config.
    pub start: Vec<usize>,
    /// The external labels changed, so nothing is kept.
    pub external_labels_changed: bool,
    /// The `ringwrite:` section changed. Whether that needs a process restart (e.g. a new
    /// `wal_dir` or `web_listen_address`) is for the caller to decide.
    pub ringwrite_changed: bool,
}

impl ReloadPlan {
    /// Nothing to do: every endpoint is kept and the `ringwrite:` section is the same.
    pub fn is_noop(&self) -> bool {
        self.stop.is_empty() && self.start.is_empty() && !self.ringwrite_changed
    }
}

/// Compares the running config with a new one.
pub fn plan_reload(old: &Config, new: &Config) -> ReloadPlan {
    let external_labels_changed = old.external_labels != new.external_labels;
    let mut plan = ReloadPlan {
        external_labels_changed,
        ringwrite_changed: old.ringwrite != new.ringwrite,
        ..ReloadPlan::default()
    };
    for (new_i, endpoint) in new.remote_write.iter().enumerate() {
        let kept = old
            .remote_write
            .iter()
            .position(|o| o.config_hash() == endpoint.config_hash())
            .filter(|_| !external_labels_changed);
        match kept {
            Some(old_i) => plan.keep.push((old_i, new_i)),
            None => plan.start.push(new_i),
        }
    }
    plan.stop = (0..old.remote_write.len())
        .filter(|old_i| !plan.keep.iter().any(|(k, _)| k == old_i))
        .collect();
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(yaml: &str) -> Config {
        match Config::from_yaml(yaml, "t.yml", None) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn unchanged_endpoints_are_kept_changed_ones_restarted() {
        let old = cfg("remote_write:\n- {url: 'http://a/', name: a}\n- {url: 'http://b/', name: b}\n- {url: 'http://c/', name: c}\n");
        // b reordered and reformatted (same effective config), a changed, c removed, d added.
        let new = cfg("remote_write:\n- url: 'http://b/'\n  name: b\n  queue_config: {max_shards: 50}\n- {url: 'http://a/', name: a, queue_config: {max_shards: 7}}\n- {url: 'http://d/', name: d}\n");
        let plan = plan_reload(&old, &new);
        assert_eq!(plan.keep, vec![(1, 0)]);
        assert_eq!(plan.start, vec![1, 2]);
        assert_eq!(plan.stop, vec![0, 2]);
        assert!(!plan.external_labels_changed && !plan.ringwrite_changed);
        assert!(!plan.is_noop());
        assert!(plan_reload(&old, &old).is_noop());
    }

    #[test]
    fn external_label_change_restarts_everything() {
        let old = cfg("global: {external_labels: {dc: a}}\nremote_write: [{url: 'http://a/'}]");
        let new = cfg("global: {external_labels: {dc: b}}\nremote_write: [{url: 'http://a/'}]");
        let plan = plan_reload(&old, &new);
        assert!(plan.external_labels_changed);
        assert_eq!(
            (plan.keep.len(), plan.stop, plan.start),
            (0, vec![0], vec![0])
        );
    }

    #[test]
    fn ringwrite_section_change_is_reported() {
        let old = cfg("remote_write: [{url: 'http://a/'}]");
        let new = cfg("ringwrite: {cores: 2}\nremote_write: [{url: 'http://a/'}]");
        let plan = plan_reload(&old, &new);
        assert!(plan.ringwrite_changed);
        assert_eq!(plan.keep, vec![(0, 0)]);
        assert!(!plan.is_noop());
    }
}
