// The blog editor's rich-text body (progressive enhancement).
//
// Every <textarea data-rich-text> gets a Tiptap (ProseMirror) editor in front of it; the
// textarea stays the form field and is kept up to date with the editor's HTML, so the form
// posts exactly what it would without JavaScript (and the server sanitizes it either way).
// CSP: no inline styles are injected (injectCSS: false; the editor's CSS is in site.css).
import { Editor } from "@tiptap/core";
import StarterKit from "@tiptap/starter-kit";

const BUTTONS = [
  { label: "Bold", run: (e) => e.chain().focus().toggleBold().run(), active: (e) => e.isActive("bold") },
  { label: "Italic", run: (e) => e.chain().focus().toggleItalic().run(), active: (e) => e.isActive("italic") },
  {
    label: "Heading",
    run: (e) => e.chain().focus().toggleHeading({ level: 2 }).run(),
    active: (e) => e.isActive("heading", { level: 2 }),
  },
  {
    label: "Subheading",
    run: (e) => e.chain().focus().toggleHeading({ level: 3 }).run(),
    active: (e) => e.isActive("heading", { level: 3 }),
  },
  { label: "Bulleted list", run: (e) => e.chain().focus().toggleBulletList().run(), active: (e) => e.isActive("bulletList") },
  { label: "Quote", run: (e) => e.chain().focus().toggleBlockquote().run(), active: (e) => e.isActive("blockquote") },
  {
    label: "Link",
    run: (e) => {
      const previous = e.getAttributes("link").href || "https://";
      const href = window.prompt("Link address (empty to remove the link)", previous);
      if (href === null) return;
      if (href.trim() === "") {
        e.chain().focus().extendMarkRange("link").unsetLink().run();
      } else {
        e.chain().focus().extendMarkRange("link").setLink({ href: href.trim() }).run();
      }
    },
    active: (e) => e.isActive("link"),
  },
];

function enhance(textarea) {
  const wrapper = document.createElement("div");
  wrapper.className = "rich-text";
  const toolbar = document.createElement("div");
  toolbar.className = "rich-text-toolbar";
  toolbar.setAttribute("role", "toolbar");
  toolbar.setAttribute("aria-label", "Formatting");
  const surface = document.createElement("div");
  surface.className = "rich-text-surface";
  wrapper.append(toolbar, surface);
  textarea.before(wrapper);
  textarea.hidden = true;

  const label = document.querySelector(`label[for="${textarea.id}"]`);
  let buttons = null;
  const editor = new Editor({
    element: surface,
    content: textarea.value,
    injectCSS: false,
    extensions: [StarterKit.configure({ link: { openOnClick: false, protocols: ["http", "https", "mailto"] } })],
    editorProps: {
      attributes: {
        role: "textbox",
        "aria-multiline": "true",
        "aria-label": label ? label.textContent.trim() : "Body",
        class: "rich-text-content",
      },
    },
    onUpdate: ({ editor: e }) => {
      textarea.value = e.getHTML();
    },
    // Every transaction, not only edits: toggling bold with nothing selected changes only
    // the stored marks, and the button must say so.
    onTransaction: () => sync(),
  });

  buttons = BUTTONS.map((spec) => {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = spec.label;
    button.setAttribute("aria-pressed", "false");
    // The editor keeps the focus and the selection: a toolbar button never takes them on
    // press (Tiptap refocuses on the next frame, and a key typed before it would be lost).
    button.addEventListener("mousedown", (event) => event.preventDefault());
    button.addEventListener("click", () => spec.run(editor));
    toolbar.append(button);
    return [button, spec];
  });
  function sync() {
    if (!buttons) return; // the first transactions run before the toolbar exists
    for (const [button, spec] of buttons) {
      button.setAttribute("aria-pressed", String(spec.active(editor)));
    }
  }
  if (label) {
    label.addEventListener("click", () => editor.commands.focus());
  }
  textarea.value = editor.getHTML();
}

function enhanceAll(root) {
  for (const textarea of root.querySelectorAll("textarea[data-rich-text]")) {
    if (!textarea.dataset.richTextReady) {
      textarea.dataset.richTextReady = "1";
      enhance(textarea);
    }
  }
}

document.addEventListener("DOMContentLoaded", () => enhanceAll(document));
// Pages swapped in by htmx (boosted navigation) get their editors too.
document.addEventListener("htmx:load", (event) => enhanceAll(event.target));
