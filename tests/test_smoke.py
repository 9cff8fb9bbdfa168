def test_admin_can_crud_contact(api):
    r = api.post(
        "/api/v1/contacts",
        json={"first_name": "Ada", "last_name": "Lovelace", "email": "ADA@Example.com"},
    )
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["email"] == "ada@example.com"
    url = r.headers["Location"]
    r = api.get(url)
    assert r.status_code == 200 and r.headers["ETag"] == '"1"'
    r = api.patch(url, json={"title": "Countess"}, headers={"If-Match": '"1"'})
    assert r.status_code == 200, r.get_json()
    r = api.patch(url, json={"title": "Stale"}, headers={"If-Match": '"1"'})
    assert r.status_code == 412
    assert api.delete(url).status_code == 204
    assert api.get(url).status_code == 404
    assert api.post(url + "/restore").status_code == 200
    assert api.get("/api/v1/search?q=lovel").get_json()["data"][0]["title"] == "Ada Lovelace"
