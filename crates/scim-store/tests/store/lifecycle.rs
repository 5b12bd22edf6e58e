//! The token lifecycle and tenant settings (issue 11), on both backends.

use std::time::Duration;

use scim_store::{DeleteMode, JwtSettings, TenantUpdate, TokenScope, TokenSpec};

use crate::support::*;

store_tests!(
    token_expiry_must_be_a_future_time,
    read_scope_is_kept_and_reported,
    rotation_keeps_the_old_token_for_the_overlap,
    last_use_is_recorded,
    tenant_settings_are_updated_and_reset,
);

fn spec(name: &str, expires: Option<&str>, scope: TokenScope) -> TokenSpec {
    TokenSpec {
        name: name.into(),
        expires: expires.map(str::to_string),
        scope,
    }
}

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

async fn token_expiry_must_be_a_future_time(f: Fixture) {
    let s = f.s();
    for bad in ["2020-01-01T00:00:00Z", "next week", ""] {
        let e = s
            .create_token_with(f.acme, spec("x", Some(bad), TokenScope::Write))
            .await
            .expect_err(bad);
        assert_eq!(status(&e), 400, "{bad}: {e}");
    }
    let e = s
        .create_token(f.acme, "old-api", Some("2001-01-01T00:00:00Z".into()))
        .await
        .expect_err("past");
    assert_eq!(status(&e), 400);
    let (info, text) = s
        .create_token_with(
            f.acme,
            spec("x", Some("2999-01-01T00:00:00+01:00"), TokenScope::Write),
        )
        .await
        .unwrap();
    assert_eq!(info.expires.as_deref(), Some("2998-12-31T23:00:00.000Z"));
    assert!(s.authenticate(&text, &now()).await.unwrap().is_some());
    assert!(
        s.list_tokens(f.acme)
            .await
            .unwrap()
            .iter()
            .all(|t| t.name != "old-api")
    );
}

async fn read_scope_is_kept_and_reported(f: Fixture) {
    let s = f.s();
    let (info, text) = s
        .create_token_with(f.acme, spec("auditor", None, TokenScope::Read))
        .await
        .unwrap();
    assert_eq!(info.scope, TokenScope::Read);
    let (_, found) = s.authenticate(&text, &now()).await.unwrap().unwrap();
    assert_eq!(found.scope, TokenScope::Read);
    let (plain, text) = s.create_token(f.acme, "okta", None).await.unwrap();
    assert_eq!(plain.scope, TokenScope::Write);
    let (_, found) = s.authenticate(&text, &now()).await.unwrap().unwrap();
    assert_eq!(found.scope, TokenScope::Write);
    let listed = s.list_tokens(f.acme).await.unwrap();
    assert_eq!(listed.len(), 2);
}

async fn rotation_keeps_the_old_token_for_the_overlap(f: Fixture) {
    let s = f.s();
    let (old, old_text) = s
        .create_token_with(f.acme, spec("okta", None, TokenScope::Read))
        .await
        .unwrap();
    let r = s.rotate_token(f.acme, &old.id, 3600).await.unwrap();
    assert_eq!(r.new.name, "okta");
    assert_eq!(r.new.scope, TokenScope::Read);
    assert_ne!(r.new.id, old.id);
    // Both work now; the old one expires at the end of the window.
    assert!(s.authenticate(&r.text, &now()).await.unwrap().is_some());
    assert!(s.authenticate(&old_text, &now()).await.unwrap().is_some());
    let end = r.old.expires.clone().expect("the old token now expires");
    let after = scim_core::value::parse_datetime(&end).unwrap() + time::Duration::seconds(1);
    let after = after
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    assert!(s.authenticate(&old_text, &after).await.unwrap().is_none());
    assert!(s.authenticate(&r.text, &after).await.unwrap().is_some());
    // An overlap of zero revokes at once; an unknown or another tenant's token is 404.
    let r2 = s.rotate_token(f.acme, &r.new.id, 0).await.unwrap();
    assert!(r2.old.revoked.is_some());
    assert!(s.authenticate(&r.text, &now()).await.unwrap().is_none());
    assert!(s.authenticate(&r2.text, &now()).await.unwrap().is_some());
    let e = s.rotate_token(f.globex, &r2.new.id, 60).await.unwrap_err();
    assert_eq!(status(&e), 404);
    let e = s.rotate_token(f.acme, &r.new.id, 60).await.unwrap_err();
    assert_eq!(status(&e), 404, "a revoked token cannot be rotated");
    let e = s.rotate_token(f.acme, &r2.new.id, -1).await.unwrap_err();
    assert_eq!(status(&e), 400);
}

async fn last_use_is_recorded(f: Fixture) {
    let s = f.s();
    let (info, text) = s.create_token(f.acme, "okta", None).await.unwrap();
    assert_eq!(info.last_used, None);
    for _ in 0..5 {
        assert!(s.authenticate(&text, &now()).await.unwrap().is_some());
    }
    // Written off the request's path, once.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let t = s.list_tokens(f.acme).await.unwrap();
        if let Some(used) = &t[0].last_used {
            assert!(used.ends_with(":00.000Z"), "to the minute: {used}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "last use never recorded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn tenant_settings_are_updated_and_reset(f: Fixture) {
    let s = f.s();
    assert_eq!(s.tenant_settings(f.acme).await.unwrap(), Default::default());
    let jwt = JwtSettings {
        issuer: "https://idp.example.com".into(),
        audience: "scim".into(),
        jwks_url: Some("https://idp.example.com/jwks".into()),
        static_key: None,
        tenant_claim: "scim_tenant".into(),
        tenant_value: None,
    };
    let (t, settings) = s
        .update_tenant(
            "acme",
            TenantUpdate {
                delete_mode: Some(DeleteMode::Soft),
                retention_days: Some(7),
                rate_per_minute: Some(Some(600)),
                rate_burst: Some(Some(20)),
                jwt: Some(Some(jwt.clone())),
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t.delete_mode, DeleteMode::Soft);
    assert_eq!(t.retention_days, 7);
    assert_eq!(settings.rate_per_minute, Some(600));
    assert_eq!(s.tenant_settings(f.acme).await.unwrap(), settings);
    assert_eq!(s.tenant_settings(f.acme).await.unwrap().jwt, Some(jwt));
    assert_eq!(
        s.tenant_settings(f.globex).await.unwrap(),
        Default::default()
    );
    // Only what is given changes; Some(None) goes back to the default.
    let (_, settings) = s
        .update_tenant(
            "acme",
            TenantUpdate {
                rate_burst: Some(None),
                jwt: Some(None),
                ..TenantUpdate::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(settings.rate_per_minute, Some(600));
    assert_eq!(settings.rate_burst, None);
    assert_eq!(settings.jwt, None);
    // Refused: zero rates, unusable JWT settings, unknown tenants.
    for bad in [
        TenantUpdate {
            rate_per_minute: Some(Some(0)),
            ..TenantUpdate::default()
        },
        TenantUpdate {
            jwt: Some(Some(JwtSettings {
                issuer: "i".into(),
                audience: "a".into(),
                jwks_url: None,
                static_key: None,
                tenant_claim: "t".into(),
                tenant_value: None,
            })),
            ..TenantUpdate::default()
        },
        TenantUpdate {
            retention_days: Some(-1),
            ..TenantUpdate::default()
        },
    ] {
        let e = s.update_tenant("acme", bad).await.unwrap_err();
        assert_eq!(status(&e), 400, "{e}");
    }
    assert!(
        s.update_tenant("nobody", TenantUpdate::default())
            .await
            .unwrap()
            .is_none()
    );
    // Deleting the tenant deletes its settings.
    assert!(s.delete_tenant("acme").await.unwrap());
}
