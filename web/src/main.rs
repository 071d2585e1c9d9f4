// Placeholder entry point; replaced by the playground app.
fn main() {
    yew::Renderer::<App>::new().render();
}

#[yew::function_component(App)]
fn app() -> yew::Html {
    yew::html! { <h1>{ "Tabernetes" }</h1> }
}
