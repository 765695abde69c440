use super::*;

fn guard(loopback_bind: bool, allowed: &[&str], token: Option<&str>) -> Guard {
    Guard::new(&GuardSettings {
        loopback_bind,
        public_host: Some("mock.example".into()),
        allowed_hosts: allowed.iter().map(|h| h.to_string()).collect(),
        admin_token: token.map(|t| t.parse().unwrap()),
    })
}

fn get(path: &str, host: &str) -> Seen<'static> {
    Seen {
        method: "GET",
        path: Box::leak(path.to_string().into_boxed_str()),
        host: Some(Box::leak(host.to_string().into_boxed_str())),
        ..Seen::default()
    }
}

fn foreign(host: &str, name: &str) -> Result<Access, Refusal> {
    Err(Refusal::ForeignHost {
        host: Text::new(Field::Header, host),
        name: Text::new(Field::Header, name),
    })
}

#[test]
fn a_loopback_bind_answers_loopback_names_the_public_host_and_allowed_hosts() {
    let g = guard(true, &["enos.test", "[fd00::1]:9000"], None);
    let ok = Ok(Access::Full);
    for (host, path, expected) in [
        ("127.0.0.1:8080", "/__admin/health", ok.clone()),
        ("127.9.9.9", "/__admin/health", ok.clone()),
        ("localhost:8080", "/__admin/health", ok.clone()),
        ("LocalHost", "/__admin/health", ok.clone()),
        ("localhost.:8080", "/__admin/health", ok.clone()),
        ("app.localhost:3000", "/__admin/health", ok.clone()),
        ("[::1]:8080", "/__admin/health", ok.clone()),
        ("[::ffff:127.0.0.1]:8080", "/__admin/health", ok.clone()),
        ("mock.example:9999", "/__admin/health", ok.clone()),
        ("ENOS.test", "/connect-service/v2.1/devices", ok.clone()),
        ("[fd00::1]:80", "/", ok.clone()),
        (
            "evil.example:8080",
            "/__admin/health",
            foreign("evil.example:8080", "evil.example"),
        ),
        (
            "evil.example",
            "/connect-service/v2.1/devices",
            foreign("evil.example", "evil.example"),
        ),
        (
            "evil.example",
            "/apim-token-service/v2.0/token/get",
            foreign("evil.example", "evil.example"),
        ),
        ("evil.example", "/", foreign("evil.example", "evil.example")),
        (
            "localhost.evil.example",
            "/__admin/ui",
            foreign("localhost.evil.example", "localhost.evil.example"),
        ),
        (
            "evillocalhost:80",
            "/__admin/ui",
            foreign("evillocalhost:80", "evillocalhost"),
        ),
        (
            "10.0.0.1:8080",
            "/__admin/ui",
            foreign("10.0.0.1:8080", "10.0.0.1"),
        ),
        (
            "0.0.0.0:8080",
            "/__admin/ui",
            foreign("0.0.0.0:8080", "0.0.0.0"),
        ),
        ("\u{fffd}", "/__admin/ui", foreign("\u{fffd}", "\u{fffd}")),
        // The CA's public routes answer any name.
        ("evil.example", "/enos/CA/cacert", ok.clone()),
        ("evil.example", "/enos/CA/crl/ECC", ok.clone()),
        // /enos/CAfoo is not a CA route.
        (
            "evil.example",
            "/enos/CAfoo",
            foreign("evil.example", "evil.example"),
        ),
    ] {
        assert_eq!(g.check(&get(path, host)), expected, "{host} {path}");
    }
    // No Host header at all: not a browser.
    let no_host = Seen {
        host: None,
        ..get("/__admin/health", "")
    };
    assert_eq!(g.check(&no_host), ok);
    // A long Host is quoted cut.
    let long = format!("{}.example", "a".repeat(10_000));
    let Err(Refusal::ForeignHost { host, .. }) = g.check(&get("/", &long)) else {
        panic!("refused");
    };
    assert!(host.as_str().len() < Field::Header.max() + crate::journal::MARKER_MAX);
}

#[test]
fn the_host_check_runs_on_a_loopback_bind_or_with_allowed_hosts_and_star_turns_it_off() {
    let evil = get("/__admin/health", "evil.example");
    for (loopback, allowed, checked) in [
        (true, &[][..], true),
        (false, &[][..], false),
        (false, &["enos.test"][..], true),
        (true, &["*"][..], false),
        (false, &["enos.test", " * "][..], false),
    ] {
        let g = guard(loopback, allowed, None);
        assert_eq!(g.checks_host(), checked, "{loopback} {allowed:?}");
        assert_eq!(g.check(&evil).is_ok(), !checked, "{loopback} {allowed:?}");
    }
    let g = guard(false, &["enos.test"], None);
    assert!(g.check(&get("/", "enos.test:8080")).is_ok());
    assert!(g.check(&get("/", "127.0.0.1:8080")).is_ok());
    assert_eq!(g.allowed_hosts(), ["enos.test", "mock.example"]);
}

/// Go 1.25's CrossOriginProtection, row by row.
#[test]
fn browser_writes_from_another_origin_are_refused_as_go_refuses_them() {
    let g = guard(false, &[], None);
    let host = "127.0.0.1:8080";
    let cross_site = |method: &str, site: &str| {
        Err(Refusal::CrossSite {
            method: Text::new(Field::Method, method),
            site: Text::new(Field::Header, site),
        })
    };
    let foreign_origin = |origin: &str| {
        Err(Refusal::ForeignOrigin {
            origin: Text::new(Field::Header, origin),
            host: Text::new(Field::Header, host),
        })
    };
    let ok = Ok(Access::Full);
    for (method, path, site, origin, expected) in [
        // Neither header: curl, SDKs, tests.
        ("POST", "/__admin/reset", None, None, ok.clone()),
        ("DELETE", "/__admin/faults", None, None, ok.clone()),
        // The dashboard: same-origin, with its own Origin.
        (
            "POST",
            "/__admin/clock",
            Some("same-origin"),
            Some("http://127.0.0.1:8080"),
            ok.clone(),
        ),
        // Typed into the address bar, a bookmark.
        ("POST", "/__admin/reset", Some("none"), None, ok.clone()),
        (
            "POST",
            "/__admin/reset",
            Some("cross-site"),
            Some("https://evil.example"),
            cross_site("POST", "cross-site"),
        ),
        (
            "POST",
            "/__admin/reset",
            Some("same-site"),
            Some("http://127.0.0.1:3000"),
            cross_site("POST", "same-site"),
        ),
        (
            "PUT",
            "/__admin/x",
            Some("bogus"),
            None,
            cross_site("PUT", "bogus"),
        ),
        // Sec-Fetch-Site wins over a matching Origin.
        (
            "POST",
            "/__admin/reset",
            Some("cross-site"),
            Some("http://127.0.0.1:8080"),
            cross_site("POST", "cross-site"),
        ),
        // An older browser: Origin only.
        (
            "POST",
            "/__admin/reset",
            None,
            Some("http://127.0.0.1:8080"),
            ok.clone(),
        ),
        (
            "POST",
            "/__admin/reset",
            None,
            Some("HTTP://127.0.0.1:8080"),
            ok.clone(),
        ),
        (
            "POST",
            "/__admin/reset",
            None,
            Some("http://evil.example"),
            foreign_origin("http://evil.example"),
        ),
        (
            "POST",
            "/__admin/reset",
            None,
            Some("http://127.0.0.1:9090"),
            foreign_origin("http://127.0.0.1:9090"),
        ),
        (
            "POST",
            "/__admin/reset",
            None,
            Some("null"),
            foreign_origin("null"),
        ),
        // An empty header is no header (as Go's Header.Get).
        ("POST", "/__admin/reset", Some(""), Some(""), ok.clone()),
        // Safe methods always pass.
        (
            "GET",
            "/__admin/faults",
            Some("cross-site"),
            Some("null"),
            ok.clone(),
        ),
        (
            "HEAD",
            "/__admin/health",
            Some("cross-site"),
            None,
            ok.clone(),
        ),
        (
            "OPTIONS",
            "/__admin/faults",
            Some("cross-site"),
            None,
            ok.clone(),
        ),
        // Only /__admin is guarded so: EnOS calls need gateway headers a form cannot send.
        (
            "POST",
            "/connect-service/v2.1/certificates",
            Some("cross-site"),
            None,
            ok.clone(),
        ),
        (
            "POST",
            "/__administrator",
            Some("cross-site"),
            None,
            ok.clone(),
        ),
        (
            "POST",
            "/__admin",
            Some("cross-site"),
            None,
            cross_site("POST", "cross-site"),
        ),
    ] {
        let seen = Seen {
            method,
            path,
            host: Some(host),
            origin,
            fetch_site: site,
            authorization: None,
        };
        assert_eq!(
            g.check(&seen),
            expected,
            "{method} {path} {site:?} {origin:?}"
        );
    }
}

#[test]
fn with_a_token_admin_routes_need_it_and_health_without_it_is_public() {
    let g = guard(false, &[], Some("s3cret-Token"));
    assert!(g.has_token());
    let call = |method: &'static str, path: &'static str, authorization: Option<&'static str>| {
        g.check(&Seen {
            method,
            path,
            host: Some("127.0.0.1:8080"),
            authorization,
            ..Seen::default()
        })
    };
    let ok = Ok(Access::Full);
    for (method, path, authorization, expected) in [
        ("GET", "/__admin/faults", None, Err(Refusal::NoToken)),
        ("POST", "/__admin/reset", None, Err(Refusal::NoToken)),
        ("GET", "/__admin/openapi.json", None, Err(Refusal::NoToken)),
        ("GET", "/__admin/nowhere", None, Err(Refusal::NoToken)),
        ("POST", "/__admin/health", None, Err(Refusal::NoToken)),
        (
            "GET",
            "/__admin/faults",
            Some("Bearer s3cret-Token"),
            ok.clone(),
        ),
        (
            "POST",
            "/__admin/reset",
            Some("bearer   s3cret-Token "),
            ok.clone(),
        ),
        (
            "GET",
            "/__admin/faults",
            Some("Bearer s3cret-token"),
            Err(Refusal::WrongToken),
        ),
        (
            "GET",
            "/__admin/faults",
            Some("Bearer s3cret-Token2"),
            Err(Refusal::WrongToken),
        ),
        (
            "GET",
            "/__admin/faults",
            Some("Bearer"),
            Err(Refusal::NoToken),
        ),
        (
            "GET",
            "/__admin/faults",
            Some("Basic czNjcmV0"),
            Err(Refusal::NoToken),
        ),
        (
            "GET",
            "/__admin/faults",
            Some("s3cret-Token"),
            Err(Refusal::NoToken),
        ),
        // Health: open, with the secrets left out unless the token comes with it.
        ("GET", "/__admin/health", None, Ok(Access::Public)),
        ("HEAD", "/__admin/health", None, Ok(Access::Public)),
        (
            "GET",
            "/__admin/health",
            Some("Bearer s3cret-Token"),
            ok.clone(),
        ),
        (
            "GET",
            "/__admin/health",
            Some("Bearer nope"),
            Err(Refusal::WrongToken),
        ),
        // The dashboard's static page asks for the token itself.
        ("GET", "/__admin/ui", None, ok.clone()),
        // Not the control plane.
        ("GET", "/", None, ok.clone()),
        ("POST", "/connect-service/v2.1/devices", None, ok.clone()),
        ("GET", "/enos/CA/cacert", None, ok.clone()),
    ] {
        assert_eq!(
            call(method, path, authorization),
            expected,
            "{method} {path} {authorization:?}"
        );
    }
    // Without a token every admin route is open, as before.
    let open = guard(false, &[], None);
    assert!(!open.has_token());
    let faults = Seen {
        method: "GET",
        path: "/__admin/faults",
        ..Seen::default()
    };
    assert_eq!(open.check(&faults), ok);
}

#[test]
fn refusals_say_what_to_do() {
    let g = guard(true, &[], Some("t"));
    let refused = |seen: Seen<'_>| g.check(&seen).unwrap_err().to_string();
    assert_eq!(
        refused(get("/__admin/health", "rebind.example:8080")),
        "Host rebind.example:8080 is not allowed: this mock answers only loopback names and \
         addresses, the host of its public URL and the hosts of --allowed-hosts \
         (ENOS_MOCK_ALLOWED_HOSTS); to reach it by this name, start it with --allowed-hosts \
         rebind.example"
    );
    let post = Seen {
        method: "POST",
        ..get("/__admin/reset", "127.0.0.1:8080")
    };
    assert_eq!(
        refused(Seen {
            fetch_site: Some("cross-site"),
            ..post
        }),
        "cross-origin request refused: the browser sent this POST with Sec-Fetch-Site: \
         cross-site; /__admin takes changes only from its own pages (the dashboard) or from \
         clients that are not browsers (curl, SDKs, tests)"
    );
    assert_eq!(
        refused(Seen {
            origin: Some("https://evil.example"),
            ..post
        }),
        "cross-origin request refused: Origin https://evil.example does not match Host \
         127.0.0.1:8080; /__admin takes changes only from its own pages (the dashboard) or \
         from clients that are not browsers (curl, SDKs, tests)"
    );
    assert_eq!(
        refused(post),
        "/__admin needs the admin token: send Authorization: Bearer <token>, the value the \
         mock was started with (--admin-token, ENOS_MOCK_ADMIN_TOKEN)"
    );
    assert_eq!(
        refused(Seen {
            authorization: Some("Bearer u"),
            ..post
        }),
        "the admin token is wrong: Authorization: Bearer <token> must carry the value of \
         --admin-token (ENOS_MOCK_ADMIN_TOKEN)"
    );
    assert!(Refusal::NoToken.needs_token() && Refusal::WrongToken.needs_token());
    assert!(!refused_is_token(&g));
}

fn refused_is_token(g: &Guard) -> bool {
    g.check(&get("/", "evil.example"))
        .unwrap_err()
        .needs_token()
}

#[test]
fn admin_tokens_are_printable_and_never_shown() {
    for (text, expected) in [
        ("s3cret", Ok(())),
        ("", Err("the admin token must not be empty")),
        (
            "two words",
            Err("the admin token must be printable ASCII without spaces"),
        ),
        (
            "tab\there",
            Err("the admin token must be printable ASCII without spaces"),
        ),
        (
            "émile",
            Err("the admin token must be printable ASCII without spaces"),
        ),
    ] {
        assert_eq!(
            text.parse::<AdminToken>().map(|_| ()),
            expected.map_err(String::from),
            "{text:?}"
        );
    }
    let token: AdminToken = "s3cret".parse().unwrap();
    assert_eq!(format!("{token:?}"), "AdminToken(…)");
}
