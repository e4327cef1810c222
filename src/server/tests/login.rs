//! `/login` and `/logout` (issue #23, low items): where a login may send the browser, and
//! sessions that end on the server.

use super::*;

fn login(token: &str, next: &str) -> Request<Body> {
    let form = format!("token={token}&next={next}");
    request(
        Method::POST,
        "/login",
        &[("content-type", "application/x-www-form-urlencoded")],
        form,
    )
}

fn location(response: &Response<Body>) -> Option<&str> {
    response
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn a_tab_in_next_sends_the_login_home_not_to_another_host() {
    let f = Fixture::new(Some(TOKEN), None).await;
    // `/<TAB>/evil.example`: a browser drops the tab and goes to //evil.example.
    let response = f.send(login(TOKEN, "%2F%09%2Fevil.example")).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), Some("/"));
    let response = f.send(login(TOKEN, "%2Fapps%2Fshop")).await;
    assert_eq!(location(&response), Some("/apps/shop"));
}

#[tokio::test]
async fn a_newline_in_next_gets_an_answer_not_a_panic() {
    let f = Fixture::new(Some(TOKEN), None).await;
    let response = f.send(login(TOKEN, "%2Fapps%0D%0ASet-Cookie:x=y")).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), Some("/"));
    let (status, page) = text_of(f.send(get("/login?next=%2Fa%0Ab")).await).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!page.contains("/a\nb"), "{page}");
}

#[tokio::test]
async fn a_session_expires_and_logout_revokes_it_on_the_server() {
    let mut f = Fixture::new(Some(TOKEN), None).await;
    f.state.read_needs_token = true;
    let response = f.send(login(TOKEN, "%2F")).await;
    let set_cookie = response
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .expect("a session cookie")
        .to_owned();
    assert!(set_cookie.contains("Max-Age=43200"), "{set_cookie}");
    assert!(!set_cookie.contains(TOKEN), "{set_cookie}");
    let cookie = set_cookie.split(';').next().expect("name=value").to_owned();
    let with_cookie = |method: Method, uri: &str| {
        request(method, uri, &[("cookie", cookie.as_str())], Body::empty())
    };
    assert_eq!(
        f.send(with_cookie(Method::GET, "/api/v1/apps"))
            .await
            .status(),
        StatusCode::OK
    );

    let response = f.send(with_cookie(Method::POST, "/logout")).await;
    assert_eq!(location(&response), Some("/login"));
    // A copy of the cookie taken before the logout no longer opens anything.
    let (status, body) = json_of(f.send(with_cookie(Method::GET, "/api/v1/apps")).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let page = f.send(with_cookie(Method::GET, "/")).await;
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
}
