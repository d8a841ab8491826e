//! The shape of the values the configuration names things with: email addresses, URLs,
//! Slack user ids, GitHub logins, HTTP methods, branch names. Each check answers with the
//! reason a value is refused, in words, so the validation can say what is wrong and where.
//!
//! These are deliberately narrower than the standards they follow (no quoted local parts,
//! no internationalised domains, no URL credentials): a value that passes here is one
//! every adapter — SES, Slack, reqwest, an HTML page — takes as it is.

/// Characters allowed unquoted in the local part of an address (RFC 5322 `atext`).
const LOCAL_PART_EXTRA: &str = "!#$%&'*+/=?^_`{|}~-";

/// Why `text` is not a plain, deliverable email address (`name@example.com`).
pub fn email(text: &str) -> Result<(), String> {
    if text.len() > 254 {
        return Err("is longer than 254 characters".into());
    }
    let Some((local, domain)) = text.rsplit_once('@') else {
        return Err("is not an email address (no `@`)".into());
    };
    if local.is_empty() || local.len() > 64 {
        return Err("needs 1 to 64 characters before the `@`".into());
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err("has a misplaced `.` before the `@`".into());
    }
    if let Some(c) = local
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '.' || LOCAL_PART_EXTRA.contains(*c)))
    {
        return Err(format!("has `{}` before the `@`", c.escape_debug()));
    }
    hostname(domain, true).map_err(|why| format!("has a domain that {why}"))
}

/// Why `host` is not a DNS host name. `dotted` asks for at least two labels.
fn hostname(host: &str, dotted: bool) -> Result<(), String> {
    if host.is_empty() || host.len() > 253 {
        return Err("is empty or longer than 253 characters".into());
    }
    let labels: Vec<&str> = host.split('.').collect();
    if dotted && labels.len() < 2 {
        return Err("has no `.`".into());
    }
    for label in labels {
        if label.is_empty() || label.len() > 63 {
            return Err("has an empty or over-long part".into());
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("has a part that starts or ends with `-`".into());
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
        {
            return Err(format!("contains `{}`", c.escape_debug()));
        }
    }
    Ok(())
}

/// What may follow the host of a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlUse {
    /// Paths are appended to it (`public_url` + `/approvals/…`, `base_url` + `/health`):
    /// a query or a fragment would swallow them.
    Base,
    /// Shown or followed as it is (a status page).
    Page,
}

/// Why `text` is not an absolute `http`/`https` URL that is safe to put in a link, an
/// email or a request. Any other scheme (`javascript:`, `file:`, `data:`) is refused, and
/// so are credentials in the URL (they would be mailed to everyone).
pub fn http_url(text: &str, usage: UrlUse) -> Result<(), String> {
    if text.len() > 2048 {
        return Err("is longer than 2048 characters".into());
    }
    if let Some(c) = text
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"' | '\\'))
    {
        return Err(format!(
            "contains `{}`, which a URL cannot",
            c.escape_debug()
        ));
    }
    let scheme_end = text.find("://").unwrap_or(0);
    let scheme = &text[..scheme_end];
    if !(scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("http")) {
        return Err("must start with http:// or https://".into());
    }
    let rest = &text[scheme_end + "://".len()..];
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    if authority.contains('@') {
        return Err("must not carry a user name or password".into());
    }
    host_and_port(authority)?;
    if usage == UrlUse::Base && tail.contains(['?', '#']) {
        return Err("must not have a query or fragment (paths are appended to it)".into());
    }
    Ok(())
}

fn host_and_port(authority: &str) -> Result<(), String> {
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let Some((v6, after)) = bracketed.split_once(']') else {
            return Err("has an unclosed `[` in its host".into());
        };
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("has `[{v6}]`, which is not an IPv6 address"));
        }
        match after {
            "" => return Ok(()),
            _ => match after.strip_prefix(':') {
                Some(port) => (None, Some(port)),
                None => return Err("has text after its IPv6 address".into()),
            },
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (Some(host), Some(port)),
            None => (Some(authority), None),
        }
    };
    if let Some(host) = host {
        if host.is_empty() {
            return Err("has no host".into());
        }
        hostname(host, false).map_err(|why| format!("has a host that {why}"))?;
    }
    if let Some(port) = port
        && !port.parse::<u16>().is_ok_and(|p| p > 0)
    {
        return Err(format!("has port `{port}`, not a number from 1 to 65535"));
    }
    Ok(())
}

/// Why `text` is not a Slack user id (`U…` or `W…`, then upper-case letters and digits).
pub fn slack_user(text: &str) -> Result<(), String> {
    let mut chars = text.chars();
    let shaped = matches!(chars.next(), Some('U' | 'W'))
        && (3..=21).contains(&text.len())
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if shaped {
        Ok(())
    } else {
        Err("is not a Slack user id (like U0123ABCD: U or W, then capital letters and digits; the id, not the display name)".into())
    }
}

/// Why `text` is not a GitHub login: 1 to 39 letters, digits and single hyphens, neither
/// first nor last.
pub fn github_login(text: &str) -> Result<(), String> {
    let shaped = (1..=39).contains(&text.len())
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !text.starts_with('-')
        && !text.ends_with('-')
        && !text.contains("--");
    if shaped {
        Ok(())
    } else {
        Err(
            "is not a GitHub login (1 to 39 letters, digits and single hyphens, not first or last)"
                .into(),
        )
    }
}

/// Why `text` is not an AWS principal shipgate can recognise: an IAM user or role ARN
/// (`arn:aws:iam::123456789012:user/taylor`, `…:role/path/Release`) or an assumed-role
/// session ARN (`arn:aws:sts::123456789012:assumed-role/Release/taylor@example.com`).
pub fn aws_principal(text: &str) -> Result<(), String> {
    let parts: Vec<&str> = text.splitn(6, ':').collect();
    let shaped = match parts.as_slice() {
        ["arn", partition, service, "", account, resource] => {
            partition.starts_with("aws")
                && account.len() == 12
                && account.chars().all(|c| c.is_ascii_digit())
                && match *service {
                    "iam" => {
                        (resource.starts_with("user/") || resource.starts_with("role/"))
                            && resource.split('/').all(|p| !p.is_empty())
                    }
                    "sts" => {
                        resource.starts_with("assumed-role/")
                            && resource.split('/').count() == 3
                            && resource.split('/').all(|p| !p.is_empty())
                    }
                    _ => false,
                }
        }
        _ => false,
    };
    if shaped && !text.contains(char::is_whitespace) {
        Ok(())
    } else {
        Err("is not an IAM user or role ARN (arn:aws:iam::<account>:user/… or :role/…) nor an assumed-role ARN (arn:aws:sts::<account>:assumed-role/<role>/<session>)".into())
    }
}

/// The methods a health check may use.
pub const HTTP_METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// Why `text` is not one of [`HTTP_METHODS`] (in any case: the probe sends it upper-case).
pub fn http_method(text: &str) -> Result<(), String> {
    if HTTP_METHODS.iter().any(|m| m.eq_ignore_ascii_case(text)) {
        Ok(())
    } else {
        Err(format!("is not one of {}", HTTP_METHODS.join(", ")))
    }
}

/// Why `text` is not a request path to append to a base URL (`/health`, `/jobs?page=1`).
pub fn request_path(text: &str) -> Result<(), String> {
    if !text.starts_with('/') {
        return Err("must start with `/`".into());
    }
    if text.starts_with("//") {
        return Err("must not start with `//` (it would read as another host)".into());
    }
    if text.len() > 1024 {
        return Err("is longer than 1024 characters".into());
    }
    if let Some(c) = text
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || matches!(c, '#' | '<' | '>' | '"' | '\\'))
    {
        return Err(format!("contains `{}`", c.escape_debug()));
    }
    Ok(())
}

/// Why `text` is not a git branch name GitHub would send as `refs/heads/<text>`.
pub fn branch(text: &str) -> Result<(), String> {
    let bad = text.is_empty()
        || text.len() > 255
        || text.starts_with(['/', '-', '.'])
        || text.ends_with(['/', '.'])
        || text.ends_with(".lock")
        || text.contains("..")
        || text.contains("//")
        || text.contains("@{")
        || text
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "~^:?*[\\".contains(c));
    if bad {
        Err("is not a git branch name".into())
    } else {
        Ok(())
    }
}

/// Why `text` is not a short piece of text for people: empty, too long, or with control
/// characters (which would garble a Slack message, an email header or a log line).
pub fn label(text: &str, max: usize) -> Result<(), String> {
    if text.trim().is_empty() {
        return Err("is empty".into());
    }
    if text.chars().count() > max {
        return Err(format!("is longer than {max} characters"));
    }
    if text.chars().any(char::is_control) {
        return Err("contains a control character".into());
    }
    Ok(())
}

/// Why `text` is not a token for machines (an approver id, an alarm or cluster name):
/// letters, digits and `extra`, at most `max` characters.
pub fn token(text: &str, max: usize, extra: &str) -> Result<(), String> {
    if text.is_empty() || text.len() > max {
        return Err(format!("must have 1 to {max} characters"));
    }
    match text
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || extra.contains(*c)))
    {
        Some(c) => Err(format!(
            "contains `{}` (use letters, digits and {})",
            c.escape_debug(),
            extra
                .chars()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(" ")
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_email_addresses_when_checked_then_plain_ones_pass_and_odd_ones_do_not() {
        for ok in [
            "ceo@example.com",
            "first.last+tag@sub.example.co.uk",
            "12345+octo-cat@users.noreply.github.com",
        ] {
            assert_eq!(email(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "no-at-sign",
            "@example.com",
            "a@",
            "a@localhost",
            "a@exa mple.com",
            "a b@example.com",
            ".a@example.com",
            "a..b@example.com",
            "a@-example.com",
            "a@example..com",
            "a@example.com\n",
            "\"quoted\"@example.com",
            "a@ex_ample.com",
        ] {
            assert!(email(bad).is_err(), "{bad:?} passed");
        }
    }

    #[test]
    fn given_urls_when_checked_then_only_http_and_https_ones_pass() {
        for ok in [
            "https://shipgate.example.com",
            "http://127.0.0.1:8080",
            "http://127.0.0.1:8080/app",
            "HTTPS://Example.com/",
            "http://[::1]:8080",
        ] {
            assert_eq!(http_url(ok, UrlUse::Base), Ok(()), "{ok}");
        }
        assert_eq!(
            http_url("https://status.example.com/?page=1", UrlUse::Page),
            Ok(())
        );
        for bad in [
            "javascript:alert(1)",
            "JavaScript://example.com/%0Aalert(1)",
            "file:///etc/passwd",
            "data:text/html,hi",
            "ftp://example.com",
            "//example.com",
            "https://",
            "https://user:pass@example.com",
            "https://exa mple.com",
            "https://example.com:0",
            "https://example.com:99999",
            "https://example.com:port",
            "https://[nope]",
            "https://example.com/\"><script>",
            "https://example.com/?a=1",
            "https://example.com/#top",
        ] {
            assert!(http_url(bad, UrlUse::Base).is_err(), "{bad:?} passed");
        }
    }

    #[test]
    fn given_slack_ids_and_github_logins_when_checked_then_only_their_shapes_pass() {
        assert_eq!(slack_user("U0CEO0001"), Ok(()));
        assert_eq!(slack_user("W012ABC"), Ok(()));
        for bad in [
            "",
            "U",
            "u0123",
            "@casey",
            "C0123ABCD",
            "U01 23",
            "U0123abcd",
        ] {
            assert!(slack_user(bad).is_err(), "{bad:?} passed");
        }
        assert_eq!(github_login("octo-cat"), Ok(()));
        assert_eq!(github_login(&"a".repeat(39)), Ok(()));
        for bad in [
            "", "-octo", "octo-", "oc--to", "octo_cat", "octo cat", "a@b",
        ] {
            assert!(github_login(bad).is_err(), "{bad:?} passed");
        }
        assert!(github_login(&"a".repeat(40)).is_err());
    }

    #[test]
    fn given_methods_paths_and_branches_when_checked_then_only_well_formed_ones_pass() {
        assert_eq!(http_method("post"), Ok(()));
        assert!(http_method("CONNECT").is_err() && http_method("GE T").is_err());
        assert_eq!(request_path("/jobs?page=1"), Ok(()));
        for bad in ["health", "//evil.example.com/", "/a b", "/a#b", ""] {
            assert!(request_path(bad).is_err(), "{bad:?} passed");
        }
        assert_eq!(branch("main"), Ok(()));
        assert_eq!(branch("release/2026-03"), Ok(()));
        for bad in ["", "-x", "a..b", "a b", "a:b", "a/", "x.lock", "a@{1}"] {
            assert!(branch(bad).is_err(), "{bad:?} passed");
        }
    }
}
