//! The `wait` nodes a run is paused at, in the run view: each with a comment
//! field and approve / reject buttons that resume the run.

use leptos::prelude::*;

use super::api::ResumeRun;
use super::page::LiveRun;
use crate::model::NodeStatus;

#[component]
pub(super) fn WaitingNodes(live: LiveRun) -> impl IntoView {
    // Memoized: the cards change only when a node starts or stops waiting.
    let waiting = Memo::new(move |_| {
        live.runs.with(|runs| {
            runs.values().filter(|r| r.status == NodeStatus::Waiting).map(|r| r.node_id.clone()).collect::<Vec<_>>()
        })
    });
    view! {
        <For each=move || waiting.get() key=|node| node.clone() let:node>
            <WaitCard live node/>
        </For>
    }
}

#[component]
fn WaitCard(live: LiveRun, node: String) -> impl IntoView {
    let comment = RwSignal::new(String::new());
    let resume = ServerAction::<ResumeRun>::new();
    // Answered: the run is queued again; read it anew and follow it.
    Effect::new(move |_| {
        if let Some(Ok(_)) = resume.value().get() {
            live.reload.update(|n| *n += 1);
        }
    });
    let answer = {
        let node = node.clone();
        move |approved: bool| {
            resume.dispatch(ResumeRun { id: live.id, node: node.clone(), approved, comment: comment.get_untracked() });
        }
    };
    let approve = answer.clone();
    let error = move || resume.value().get().and_then(Result::err).map(|e| e.to_string());
    view! {
        <section class="card wait-card" data-testid="wait-card">
            <h2>{format!("`{node}` waits for an answer")}</h2>
            <p class="muted">"The run goes on with your answer as this node's output: "
                <code>"{\"approved\", \"comment\", \"by\"}"</code>"."</p>
            <label class="field">
                <span>"Comment (optional)"</span>
                <textarea rows="2" data-testid="wait-comment" prop:value=move || comment.get()
                    on:input=move |ev| comment.set(event_target_value(&ev))></textarea>
            </label>
            <div class="actions">
                <button data-testid="wait-approve" disabled=move || resume.pending().get()
                    on:click=move |_| approve(true)>"Approve"</button>
                <button class="secondary" data-testid="wait-reject" disabled=move || resume.pending().get()
                    on:click=move |_| answer(false)>"Reject"</button>
                <span class="error" role="alert">{error}</span>
            </div>
        </section>
    }
}
