//! The set-up and sign-in pages, the user menu in the top bar, and the
//! sections of the settings page this feature owns (API keys; users, for admins).

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use leptos_router::{lazy_route, LazyRoute};

use super::api::*;
use crate::error::AppError;
use crate::model::{ApiKey, User};
use crate::ui::{format_time, reload_at, use_hydrated};

/// The viewer, fetched once per page load and shared by whoever needs it.
#[derive(Clone, Copy)]
pub struct ViewerResource(pub Resource<Result<Viewer, AppError>>);

pub fn provide_viewer() {
    provide_context(ViewerResource(Resource::new(|| (), |_| current_viewer())));
}

fn error_text<T>(result: Option<Result<T, AppError>>) -> Option<String> {
    match result {
        Some(Err(error)) => Some(error.to_string()),
        _ => None,
    }
}

/// The first start: no admin exists, so the browser is led here to create one.
/// A lazy-loaded route, as every page.
pub struct SetupPage;

#[lazy_route]
impl LazyRoute for SetupPage {
    fn data() -> Self {
        Self
    }

    fn view(_this: Self) -> AnyView {
        setup_view().into_any()
    }
}

fn setup_view() -> impl IntoView {
    let hydrated = use_hydrated();
    let setup = ServerAction::<SetUpAdmin>::new();
    let (email, set_email) = signal(String::new());
    let (password, set_password) = signal(String::new());
    let (repeat, set_repeat) = signal(String::new());
    let mismatch = move || !repeat.with(String::is_empty) && password.get() != repeat.get();
    // Said as you type, and the button waits for it: no round trip to learn it.
    let missing_chars = move || super::MIN_PASSWORD_CHARS.saturating_sub(password.with(|p| p.chars().count()));
    let problem = move || {
        let missing = missing_chars();
        if missing > 0 && !password.with(String::is_empty) {
            Some(format!("{missing} more character{} needed", if missing == 1 { "" } else { "s" }))
        } else if mismatch() {
            Some("the passwords differ".to_string())
        } else {
            None
        }
    };
    let ready = move || missing_chars() == 0 && !repeat.with(String::is_empty) && !mismatch();
    Effect::new(move |_| {
        if let Some(Ok(_)) = setup.value().get() {
            reload_at("/");
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if ready() {
            setup.dispatch(SetUpAdmin { email: email.get_untracked(), password: password.get_untracked() });
        }
    };
    view! {
        <main class="page narrow" data-testid="setup-page" data-hydrated=move || hydrated.get().to_string()>
            <leptos_meta::Title text="Set up · Weft"/>
            <h1>"Welcome to Weft"</h1>
            <p class="muted">"Create the admin account. It can create the other users."</p>
            <form class="card form" on:submit=submit>
                <label>"Email"
                    <input type="email" name="email" required autocomplete="username" data-testid="email"
                        on:input=move |ev| set_email.set(event_target_value(&ev)) prop:value=email/>
                </label>
                <label>"Password (at least 8 characters)"
                    <input type="password" name="password" required minlength="8" autocomplete="new-password"
                        data-testid="password" on:input=move |ev| set_password.set(event_target_value(&ev))
                        prop:value=password/>
                </label>
                <label>"Repeat the password"
                    <input type="password" name="repeat" required autocomplete="new-password" data-testid="repeat"
                        on:input=move |ev| set_repeat.set(event_target_value(&ev)) prop:value=repeat/>
                </label>
                <p class="error" role="alert">
                    {move || problem().or_else(|| error_text(setup.value().get()))}
                </p>
                <button type="submit" data-testid="create-admin" disabled=move || setup.pending().get() || !ready()>
                    "Create the admin account"
                </button>
            </form>
        </main>
    }
}

/// Where to go after signing in: a path on this site only (never another site),
/// else `/`.
///
/// A browser reads a URL more loosely than it looks: it drops ASCII tab, LF and
/// CR anywhere, trims leading and trailing control characters and spaces, and
/// treats `\` as `/` — so `/\t/evil.example` or `/\evil.example` is
/// `//evil.example`, another site. The value is judged as the browser will read
/// it, and again percent-decoded (until it stops changing, a few rounds at most)
/// so that no encoding of those characters slips through either; whatever
/// starts with anything but a single `/` (a scheme, `//`, `/\`) is refused.
/// What is kept is the value with those characters removed, so the browser
/// goes exactly where it was judged to go.
fn safe_next(next: Option<String>) -> String {
    next.map(|next| browser_reading(&next)).filter(|next| is_local_path(next)).unwrap_or_else(|| "/".into())
}

/// `url` as the WHATWG URL parser reads it before anything else: ASCII tab, LF
/// and CR removed, leading and trailing C0 controls and spaces trimmed.
fn browser_reading(url: &str) -> String {
    let kept: String = url.chars().filter(|c| !matches!(c, '\t' | '\n' | '\r')).collect();
    kept.trim_matches(|c: char| c <= ' ').to_string()
}

/// Whether `path` (already read as a browser would) and every percent-decoding
/// of it is a path on this origin: one `/` first, then neither `/` nor `\`.
fn is_local_path(path: &str) -> bool {
    let single_slash = |p: &str| {
        let mut chars = p.chars();
        chars.next() == Some('/') && !matches!(chars.next(), Some('/' | '\\'))
    };
    let mut reading = path.to_string();
    // Each round must change the text, so four rounds unwrap four encodings;
    // anything wrapped deeper is refused rather than followed.
    for _ in 0..4 {
        if !single_slash(&reading) {
            return false;
        }
        let decoded = browser_reading(&percent_decode(&reading));
        if decoded == reading {
            return true;
        }
        reading = decoded;
    }
    false
}

/// `%XX` sequences turned into their bytes (invalid UTF-8 replaced); a `%` not
/// followed by two hex digits is kept as it is.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The sign-in page (lazy-loaded).
pub struct SignInPage;

#[lazy_route]
impl LazyRoute for SignInPage {
    fn data() -> Self {
        Self
    }

    fn view(_this: Self) -> AnyView {
        signin_view().into_any()
    }
}

fn signin_view() -> impl IntoView {
    let hydrated = use_hydrated();
    let sign_in = ServerAction::<SignIn>::new();
    let query = use_query_map();
    let (email, set_email) = signal(String::new());
    let (password, set_password) = signal(String::new());
    Effect::new(move |_| {
        if let Some(Ok(_)) = sign_in.value().get() {
            reload_at(&safe_next(query.with_untracked(|q| q.get("next"))));
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        sign_in.dispatch(SignIn { email: email.get_untracked(), password: password.get_untracked() });
    };
    view! {
        <main class="page narrow" data-testid="sign-in-page" data-hydrated=move || hydrated.get().to_string()>
            <leptos_meta::Title text="Sign in · Weft"/>
            <h1>"Sign in"</h1>
            <form class="card form" on:submit=submit>
                <label>"Email"
                    <input type="email" name="email" required autocomplete="username" data-testid="email"
                        on:input=move |ev| set_email.set(event_target_value(&ev)) prop:value=email/>
                </label>
                <label>"Password"
                    <input type="password" name="password" required autocomplete="current-password"
                        data-testid="password" on:input=move |ev| set_password.set(event_target_value(&ev))
                        prop:value=password/>
                </label>
                <p class="error" role="alert" data-testid="sign-in-error">{move || error_text(sign_in.value().get())}</p>
                <button type="submit" data-testid="sign-in" disabled=move || sign_in.pending().get()>"Sign in"</button>
            </form>
        </main>
    }
}

/// The right side of the top bar: who is signed in, their pages, sign-out.
#[component]
pub fn UserMenu() -> impl IntoView {
    let viewer = expect_context::<ViewerResource>().0;
    let sign_out = ServerAction::<SignOut>::new();
    Effect::new(move |_| {
        if let Some(Ok(())) = sign_out.value().get() {
            reload_at("/login");
        }
    });
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                let user = viewer.await.ok().and_then(|v| v.user);
                user.map(|user| view! {
                    <nav class="user-menu">
                        <a href="/" data-testid="workflows-link">"Workflows"</a>
                        <a href="/history" data-testid="history-link">"History"</a>
                        <a href="/marketplace" data-testid="marketplace-link">"Marketplace"</a>
                        <a href="/credentials" data-testid="credentials-link">"Credentials"</a>
                        <a href="/settings" data-testid="settings-link">"Settings"</a>
                        <span class="muted" data-testid="signed-in-as">{user.email}</span>
                        <button class="link" data-testid="sign-out" on:click=move |_| { sign_out.dispatch(SignOut {}); }>
                            "Sign out"
                        </button>
                    </nav>
                })
            })}
        </Transition>
    }
}

/// The viewer's API keys: make one (its secret shown once), revoke one.
#[component]
pub fn ApiKeysSection() -> impl IntoView {
    let create = ServerAction::<CreateApiKey>::new();
    let revoke = ServerAction::<RevokeApiKey>::new();
    let keys = Resource::new(move || (create.version().get(), revoke.version().get()), |_| list_api_keys());
    let (name, set_name) = signal(String::new());
    // Days, or empty for a key that never expires.
    let (expiry, set_expiry) = signal(String::from("90"));
    let (read_only, set_read_only) = signal(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        create.dispatch(CreateApiKey {
            name: name.get_untracked(),
            expires_in_days: expiry.get_untracked().parse().ok(),
            read_only: read_only.get_untracked(),
        });
        set_name.set(String::new());
    };
    view! {
        <section class="card" data-testid="api-keys">
            <h2>"API keys"</h2>
            <p class="muted">"A key acts as you in the REST API: " <code>"Authorization: Bearer <key>"</code></p>
            <form class="inline-form" on:submit=submit>
                <input type="text" placeholder="Name, e.g. deploy script" required maxlength="100"
                    data-testid="api-key-name" prop:value=name on:input=move |ev| set_name.set(event_target_value(&ev))/>
                <label class="check">
                    "Expires "
                    <select data-testid="api-key-expiry" prop:value=expiry on:change=move |ev| set_expiry.set(event_target_value(&ev))>
                        <option value="7">"in 7 days"</option>
                        <option value="30">"in 30 days"</option>
                        <option value="90">"in 90 days"</option>
                        <option value="365">"in a year"</option>
                        <option value="">"never"</option>
                    </select>
                </label>
                <label class="check">
                    <input type="checkbox" data-testid="api-key-read-only" prop:checked=read_only
                        on:change=move |ev| set_read_only.set(event_target_checked(&ev))/>
                    "read-only"
                </label>
                <button type="submit" data-testid="create-api-key" disabled=move || create.pending().get()>"Create key"</button>
            </form>
            {move || match create.value().get() {
                Some(Ok(created)) => Some(view! {
                    <p class="secret" data-testid="new-api-key">
                        "Copy this key now; it is not shown again: " <code data-testid="new-api-key-secret">{created.secret.clone()}</code>
                        " " <crate::ui::CopyButton text=created.secret/>
                    </p>
                }.into_any()),
                Some(Err(error)) => Some(view! { <p class="error" role="alert">{error.to_string()}</p> }.into_any()),
                None => None,
            }}
            <Transition fallback=|| view! { <p class="muted">"Loading keys…"</p> }>
                {move || Suspend::new(async move {
                    match keys.await {
                        Ok(keys) => view! { <ApiKeyTable keys revoke/> }.into_any(),
                        Err(error) => view! { <p class="error" role="alert">{error.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn ApiKeyTable(keys: Vec<ApiKey>, revoke: ServerAction<RevokeApiKey>) -> impl IntoView {
    if keys.is_empty() {
        return view! { <p class="muted">"No API keys yet."</p> }.into_any();
    }
    view! {
        <table class="table">
            <thead><tr><th>"Name"</th><th>"Prefix"</th><th>"Created"</th><th>"Expires"</th><th>"Access"</th><th>"State"</th><th></th></tr></thead>
            <tbody>
                {keys.into_iter().map(|key| {
                    let id = key.id;
                    let expired = key.expired(crate::ui::now_ms());
                    let confirm_and_revoke = move |_| {
                        let sure = web_sys::window()
                            .and_then(|w| w.confirm_with_message("Revoke this key? Programs using it stop working.").ok())
                            .unwrap_or(false);
                        if sure {
                            revoke.dispatch(RevokeApiKey { id });
                        }
                    };
                    view! {
                        <tr data-testid="api-key-row">
                            <td>{key.name}</td>
                            <td><code>{format!("weft_{}_…", key.prefix)}</code></td>
                            <td>{format_time(key.created_at)}</td>
                            <td>{key.expires_at.map(format_time).unwrap_or_else(|| "never".into())}</td>
                            <td>{if key.read_only { "read-only" } else { "read and write" }}</td>
                            <td>{if key.revoked_at.is_some() {
                                "revoked"
                            } else if expired {
                                "expired"
                            } else {
                                "active"
                            }}</td>
                            <td>{key.revoked_at.is_none().then(|| view! {
                                <button class="link danger" data-testid="revoke-api-key" on:click=confirm_and_revoke>"Revoke"</button>
                            })}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

/// Users (admins only): make one, list them.
#[component]
pub fn UsersSection() -> impl IntoView {
    let create = ServerAction::<CreateUser>::new();
    let disable = ServerAction::<SetUserDisabled>::new();
    let users = Resource::new(move || (create.version().get(), disable.version().get()), |_| list_users());
    let viewer = expect_context::<ViewerResource>().0;
    let (email, set_email) = signal(String::new());
    let (password, set_password) = signal(String::new());
    let (admin, set_admin) = signal(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        create.dispatch(CreateUser {
            email: email.get_untracked(),
            password: password.get_untracked(),
            admin: admin.get_untracked().then(|| "on".to_string()),
        });
    };
    Effect::new(move |_| {
        if let Some(Ok(_)) = create.value().get() {
            set_email.set(String::new());
            set_password.set(String::new());
            set_admin.set(false);
        }
    });
    view! {
        <section class="card" data-testid="users">
            <h2>"Users"</h2>
            <form class="inline-form" on:submit=submit>
                <input type="email" placeholder="Email" required data-testid="new-user-email" prop:value=email
                    on:input=move |ev| set_email.set(event_target_value(&ev))/>
                <input type="password" placeholder="Password (8+ characters)" required minlength="8"
                    autocomplete="new-password" data-testid="new-user-password" prop:value=password
                    on:input=move |ev| set_password.set(event_target_value(&ev))/>
                <label class="check">
                    <input type="checkbox" prop:checked=admin on:change=move |ev| set_admin.set(event_target_checked(&ev))/>
                    "admin"
                </label>
                <button type="submit" data-testid="create-user" disabled=move || create.pending().get()>"Create user"</button>
            </form>
            <p class="error" role="alert">{move || error_text(create.value().get())}</p>
            <p class="error" role="alert">{move || error_text(disable.value().get())}</p>
            <Transition fallback=|| view! { <p class="muted">"Loading users…"</p> }>
                {move || Suspend::new(async move {
                    let me = viewer.await.ok().and_then(|v| v.user).map(|u| u.id);
                    match users.await {
                        Ok(users) => view! { <UserTable users me disable/> }.into_any(),
                        Err(error) => view! { <p class="error" role="alert">{error.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

/// The users, each with a button to disable or enable them (not the viewer).
#[component]
fn UserTable(users: Vec<User>, me: Option<i64>, disable: ServerAction<SetUserDisabled>) -> impl IntoView {
    view! {
        <table class="table">
            <thead><tr><th>"Email"</th><th>"Role"</th><th>"Since"</th><th>"State"</th><th></th></tr></thead>
            <tbody>
                {users.into_iter().map(|user| {
                    let id = user.id;
                    let disabled = user.disabled_at.is_some();
                    let toggle = move |_| {
                        let question = "Disable this user? They are signed out everywhere, their API keys, webhooks \
                            and schedules stop working until you enable them again. Nothing of theirs is deleted.";
                        let sure = disabled
                            || web_sys::window().and_then(|w| w.confirm_with_message(question).ok()).unwrap_or(false);
                        if sure {
                            disable.dispatch(SetUserDisabled { id, disabled: !disabled });
                        }
                    };
                    view! {
                        <tr data-testid="user-row">
                            <td>{user.email}</td>
                            <td>{if user.is_admin { "admin" } else { "user" }}</td>
                            <td>{format_time(user.created_at)}</td>
                            <td data-testid="user-state">{match user.disabled_at {
                                Some(at) => format!("disabled since {}", format_time(at)),
                                None => "active".into(),
                            }}</td>
                            <td>{(me != Some(id)).then(|| view! {
                                <button class=if disabled { "link" } else { "link danger" } data-testid="toggle-user"
                                    disabled=move || disable.pending().get() on:click=toggle>
                                    {if disabled { "Enable" } else { "Disable" }}
                                </button>
                            })}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(safe_next(Some("/settings".into())), "/settings");
        assert_eq!(safe_next(Some("/workflows/7?tab=runs#top".into())), "/workflows/7?tab=runs#top");
        assert_eq!(safe_next(Some("/history?from=2026-01-01%2012%3A00".into())), "/history?from=2026-01-01%2012%3A00");
        assert_eq!(safe_next(None), "/");
        assert_eq!(safe_next(Some(String::new())), "/");
    }

    /// Every spelling a browser turns into another site: it drops ASCII tab, LF
    /// and CR anywhere in a URL, trims leading control characters and spaces,
    /// and reads `\` as `/`. The query map hands `next` over decoded once; a
    /// value encoded twice reaches us still holding `%09` and friends.
    #[test]
    fn no_spelling_of_another_site_is_followed_after_sign_in() {
        let attacks = [
            "//evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "https://evil.example",
            "HTTPS://evil.example",
            "javascript:alert(1)",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r/evil.example",
            "/\t\\evil.example",
            "\t//evil.example",
            " //evil.example",
            "\u{0}//evil.example",
            "/%09/evil.example",
            "/%0a/evil.example",
            "/%0A/evil.example",
            "/%0d/evil.example",
            "/%2F/evil.example",
            "/%5C/evil.example",
            "%2F%2Fevil.example",
            "/%2509/evil.example",
            "/\\t/evil",
            "evil.example",
        ];
        for attack in attacks {
            assert_eq!(safe_next(Some(attack.into())), "/", "{attack:?} must lead home");
        }
    }
}
