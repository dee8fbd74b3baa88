//! The per-endpoint config hash: decides which queues a reload restarts, and names endpoints
//! that have no `name` (Prometheus: the first 6 hex digits of an md5 of the entry's JSON).
//!
//! ringwrite hashes the *resolved* entry (defaults filled in, paths made absolute) serialized
//! as YAML, with SHA-256. So reformatting, reordering keys or writing a default explicitly
//! does not change the hash, and any effective change does. Generated names are therefore not
//! the same hex as Prometheus's for the same entry (different serialization and digest), but
//! behave the same: stable while the entry is unchanged.

use std::fmt;

use super::remote_write::RemoteWriteConfig;

/// SHA-256 of one resolved `remote_write` entry.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConfigHash([u8; 32]);

impl ConfigHash {
    /// The digest bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The first 6 hex digits, Prometheus's length for generated queue names.
    pub fn short(&self) -> String {
        self.to_string()[..6].to_owned()
    }
}

impl fmt::Display for ConfigHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for ConfigHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConfigHash({self})")
    }
}

impl RemoteWriteConfig {
    /// Hash of everything that shapes this endpoint's queue and client, secrets included (a
    /// changed password changes it), `name` included. Equal hashes across a reload mean the
    /// endpoint's queue may keep running.
    pub fn config_hash(&self) -> ConfigHash {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(canonical_yaml(self).as_bytes());
        for secret in self.secret_values() {
            // Length-prefixed so that ("ab", "") and ("a", "b") differ.
            ctx.update(&(secret.len() as u64).to_le_bytes());
            ctx.update(secret.as_bytes());
        }
        finish(ctx)
    }

    /// Hash without secret values, for the generated name: the name (a metric label) must
    /// neither leak nor change with a password. `name` is `None` when this is used.
    pub(crate) fn name_hash(&self) -> ConfigHash {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(canonical_yaml(self).as_bytes());
        finish(ctx)
    }
}

fn canonical_yaml(cfg: &RemoteWriteConfig) -> String {
    // Serializing these plain structs cannot fail (string-keyed maps only); should it ever,
    // the error text is still a deterministic input, so the hash stays stable.
    serde_yaml_ng::to_string(cfg).unwrap_or_else(|e| format!("unserializable: {e}"))
}

fn finish(ctx: ring::digest::Context) -> ConfigHash {
    let digest = ctx.finish();
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    ConfigHash(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::http_client::{BasicAuth, Secret};

    fn parse(yaml: &str) -> RemoteWriteConfig {
        match serde_yaml_ng::from_str(yaml) {
            Ok(c) => c,
            Err(e) => panic!("{yaml}: {e}"),
        }
    }

    #[test]
    fn formatting_and_explicit_defaults_do_not_change_the_hash() {
        let a = parse("url: http://h/w");
        let b = parse(
            "# comment\nqueue_config:\n  max_shards: 50\n  capacity: 10000\nurl: 'http://h/w'\nremote_timeout: 30s\n",
        );
        assert_eq!(a.config_hash(), b.config_hash());
        assert_eq!(a.config_hash().to_string().len(), 64);
        assert_eq!(a.config_hash().short().len(), 6);
    }

    #[test]
    fn every_effective_change_changes_the_hash() {
        let base = parse("url: http://h/w");
        let variants = [
            "url: http://h/w2",
            "url: http://h/w\nname: x",
            "url: http://h/w\nqueue_config: {max_shards: 49}",
            "url: http://h/w\nqueue_config: {batch_send_deadline: 6s}",
            "url: http://h/w\nheaders: {X-Scope-OrgID: a}",
            "url: http://h/w\nsend_exemplars: true",
            "url: http://h/w\nwrite_relabel_configs: [{action: drop, regex: x, source_labels: [a]}]",
            "url: http://h/w\nprotocol: h2c",
            "url: http://h/w\nmetadata_config: {send: false}",
        ];
        for v in variants {
            assert_ne!(parse(v).config_hash(), base.config_hash(), "{v}");
        }
    }

    #[test]
    fn secrets_change_the_config_hash_but_not_the_name_hash() {
        let mut a = parse("url: http://h/w");
        a.basic_auth = Some(BasicAuth {
            username: "u".into(),
            password: Secret::new("one"),
            ..BasicAuth::default()
        });
        let mut b = a.clone();
        if let Some(auth) = b.basic_auth.as_mut() {
            auth.password = Secret::new("two");
        }
        assert_ne!(a.config_hash(), b.config_hash());
        assert_eq!(a.name_hash(), b.name_hash());
    }
}
