// The blog editor's rich-text body (progressive enhancement).
//
// Every <textarea data-rich-text> gets a Tiptap (ProseMirror) editor in front of it; the
// textarea stays the form field and is kept up to date with the editor's HTML, so the form
// posts exactly what it would without JavaScript (and the server sanitizes it either way).
// CSP: no inline styles are injected (injectCSS: false; the editor's CSS is in site.css).
import { Editor } from "@tiptap/core";
import Image from "@tiptap/extension-image";
import StarterKit from "@tiptap/starter-kit";

// The image and embed buttons show only where the textarea names the endpoints they use
// (data-image-upload, data-embed-search: the blog's post form, blog/bp/editor.py).

// The form's CSRF token: the upload is a POST like the form's own.
function csrfToken(textarea) {
  const field = textarea.form && textarea.form.querySelector('input[name="csrf_token"]');
  return field ? field.value : "";
}

// A line under the toolbar saying what happened (an upload refused, nothing found).
function say(wrapper, text) {
  let status = wrapper.querySelector(".rich-text-status");
  if (!status) {
    status = document.createElement("p");
    status.className = "rich-text-status";
    status.setAttribute("role", "status");
    wrapper.querySelector(".rich-text-toolbar").after(status);
  }
  status.textContent = text;
}

// "Image": choose a file; it is uploaded (checked and re-encoded by the server) and put in the
// body where the cursor is, with the alt text asked for.
function pickImage(editor, textarea, wrapper) {
  const input = document.createElement("input");
  input.type = "file";
  input.accept = "image/png,image/jpeg,image/gif,image/webp";
  input.hidden = true;
  input.addEventListener("change", async () => {
    const file = input.files && input.files[0];
    input.remove();
    if (!file) return;
    const body = new FormData();
    body.append("image", file);
    say(wrapper, `Uploading ${file.name}…`);
    try {
      const response = await fetch(textarea.dataset.imageUpload, {
        method: "POST",
        body,
        headers: { "X-CSRF-Token": csrfToken(textarea), Accept: "application/json" },
        credentials: "same-origin",
      });
      const answer = await response.json();
      if (!response.ok) {
        say(wrapper, answer.message || "That image could not be uploaded.");
        return;
      }
      const alt = window.prompt("Describe the image for people who cannot see it", "") || "";
      // An empty paragraph after it takes the cursor: the next thing typed or inserted goes
      // below the image, never in its place.
      editor
        .chain()
        .focus()
        .insertContent([{ type: "image", attrs: { src: answer.url, alt } }, { type: "paragraph" }])
        .run();
      say(wrapper, "Image added.");
    } catch (error) {
      say(wrapper, "That image could not be uploaded: try again.");
    }
  });
  wrapper.append(input);
  input.click();
}

// "Embed": a search box for products, events and widgets; choosing one puts its marker
// paragraph ([product:slug], [event:slug] or [widget:type k=v]) in the body, which the post
// page shows as its card or widget.
function openEmbed(editor, textarea, wrapper) {
  let panel = wrapper.querySelector(".rich-text-embed");
  if (panel) {
    panel.querySelector("input").focus();
    return;
  }
  panel = document.createElement("div");
  panel.className = "rich-text-embed";
  panel.setAttribute("role", "dialog");
  panel.setAttribute("aria-label", "Embed a product, an event or a widget");
  const id = `${textarea.id || "body"}-embed-q`;
  panel.innerHTML =
    `<label for="${id}">Find a product, an event or a widget</label>` +
    `<input id="${id}" type="search" autocomplete="off" maxlength="100">` +
    '<ul class="rich-text-embed-results" aria-live="polite"></ul>' +
    '<button type="button" class="rich-text-embed-close">Close</button>';
  wrapper.querySelector(".rich-text-toolbar").after(panel);
  const input = panel.querySelector("input");
  const results = panel.querySelector("ul");
  const close = () => {
    panel.remove();
    editor.commands.focus();
  };
  panel.querySelector(".rich-text-embed-close").addEventListener("click", close);
  panel.addEventListener("keydown", (event) => {
    if (event.key === "Escape") close();
    if (event.key === "Enter") event.preventDefault(); // never submit the post's form
  });
  let asked = 0;
  let timer = null;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const query = input.value.trim();
      const mine = ++asked;
      if (!query) {
        results.replaceChildren();
        return;
      }
      const url = `${textarea.dataset.embedSearch}?q=${encodeURIComponent(query)}`;
      const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (mine !== asked || !response.ok) return;
      const { results: found } = await response.json();
      results.replaceChildren(
        ...found.map((item) => {
          const li = document.createElement("li");
          const button = document.createElement("button");
          button.type = "button";
          button.className = "rich-text-embed-choice";
          button.dataset.marker = item.marker;
          const kind = item.label || (item.kind === "event" ? "Event" : "Product");
          button.textContent = `${kind}: ${item.title} (${item.detail})`;
          button.addEventListener("click", () => {
            editor
              .chain()
              .focus()
              .insertContent([
                { type: "paragraph", content: [{ type: "text", text: item.marker }] },
                { type: "paragraph" },
              ])
              .run();
            panel.remove();
            say(wrapper, `${item.title} embedded: the post shows its card.`);
          });
          li.append(button);
          return li;
        }),
      );
      if (!found.length) {
        const li = document.createElement("li");
        li.className = "muted";
        li.textContent = "Nothing found.";
        results.append(li);
      }
    }, 250);
  });
  input.focus();
}

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
  {
    label: "Image",
    needs: "imageUpload",
    run: (e, textarea, wrapper) => pickImage(e, textarea, wrapper),
    active: () => false,
  },
  {
    label: "Embed",
    needs: "embedSearch",
    run: (e, textarea, wrapper) => openEmbed(e, textarea, wrapper),
    active: () => false,
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
    extensions: [
      StarterKit.configure({ link: { openOnClick: false, protocols: ["http", "https", "mailto"] } }),
      Image.configure({ inline: false, allowBase64: false }),
    ],
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

  buttons = BUTTONS.filter((spec) => !spec.needs || textarea.dataset[spec.needs]).map((spec) => {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = spec.label;
    button.setAttribute("aria-pressed", "false");
    // The editor keeps the focus and the selection: a toolbar button never takes them on
    // press (Tiptap refocuses on the next frame, and a key typed before it would be lost).
    button.addEventListener("mousedown", (event) => event.preventDefault());
    button.addEventListener("click", () => spec.run(editor, textarea, wrapper));
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
