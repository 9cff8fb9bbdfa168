"""Behind reverse proxies (CRM_PROXY_HOPS) the client's address counts for login limits."""

from crmcore.app import create_app


def _failures(app, addresses):
    client = app.test_client()
    codes = []
    for n, address in enumerate(addresses):
        r = client.post(
            "/api/v1/auth/token",
            json={"email": f"nobody{n}@example.com", "password": "wrong-password-123"},
            headers={"X-Forwarded-For": address},
        )
        codes.append(r.status_code)
    return codes


def _app(tmp_path, hops):
    tmp_path.mkdir()
    return create_app(
        tmp_path,
        config={
            "database_url": f"sqlite:///{tmp_path / 'x.db'}",
            "secret_key": "s" * 40,
            "proxy_hops": hops,
            "login_rate_limit": "3 per minute",
        },
        discover=False,
    )


def test_forwarded_addresses_are_trusted_only_with_proxy_hops(tmp_path):
    trusting = _app(tmp_path / "a", 1)
    with trusting.app_context():
        from crmcore.instance import init_instance

        init_instance(trusting.extensions["crm"])
    # each client has its own budget: nobody is limited
    assert 429 not in _failures(trusting, [f"203.0.113.{i}" for i in range(6)])

    direct = _app(tmp_path / "b", 0)
    with direct.app_context():
        from crmcore.instance import init_instance

        init_instance(direct.extensions["crm"])
    # without trusted proxies a forged header changes nothing: one address, limited
    assert 429 in _failures(direct, [f"203.0.113.{i}" for i in range(6)])
