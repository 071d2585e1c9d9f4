//! The kubeconfig standalone mode writes, so `kubectl --kubeconfig FILE`
//! works at once: one cluster, the admin user as the current context and a
//! `tabernetes-viewer` context for the read-only user.

use crate::kube_api::Credential;
use serde_json::json;
use std::path::Path;

pub fn render(server: &str, ca_pem: &str, credentials: &[Credential]) -> String {
    use base64::Engine;
    let ca_data = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let users: Vec<_> = credentials.iter().map(|c| json!({"name": c.user, "user": {"token": c.token}})).collect();
    let contexts: Vec<_> = credentials
        .iter()
        .map(|c| {
            let name = if c.user == "admin" { "tabernetes".to_string() } else { format!("tabernetes-{}", c.user) };
            json!({"name": name, "context": {"cluster": "tabernetes", "user": c.user, "namespace": "default"}})
        })
        .collect();
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "tabernetes", "cluster": {"server": server, "certificate-authority-data": ca_data}}],
        "users": users,
        "contexts": contexts,
        "current-context": "tabernetes",
        "preferences": {},
    });
    serde_yaml_ng::to_string(&config).expect("a kubeconfig is plain data")
}

/// Writes the file readable by its owner only: it holds bearer tokens.
pub fn write(path: &Path, server: &str, ca_pem: &str, credentials: &[Credential]) -> std::io::Result<()> {
    let text = render(server, ca_pem, credentials);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    use std::io::Write;
    let mut file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_admin_context_is_current_and_the_viewer_has_its_own() {
        let credentials = vec![
            Credential { token: "a".repeat(32), user: "admin".into(), groups: vec![] },
            Credential { token: "v".repeat(32), user: "viewer".into(), groups: vec![] },
        ];
        let text = render("https://127.0.0.1:6443", "PEM", &credentials);
        let parsed: serde_json::Value = serde_yaml_ng::from_str(&text).unwrap();
        assert_eq!(parsed["current-context"], "tabernetes");
        assert_eq!(parsed["clusters"][0]["cluster"]["server"], "https://127.0.0.1:6443");
        assert_eq!(parsed["clusters"][0]["cluster"]["certificate-authority-data"], "UEVN");
        assert_eq!(parsed["contexts"][1]["name"], "tabernetes-viewer");
        assert_eq!(parsed["users"][1]["user"]["token"], "v".repeat(32));
    }
}
