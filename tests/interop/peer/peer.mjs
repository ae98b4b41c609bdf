// An independent fediverse server for Rose Ash's interop tests, built on Fedify.
//
// It runs on loopback as a remote server with one account, "peer", and Fedify's strict
// inbox checks left on: every activity must carry a valid HTTP Signature (RFC 9421 or
// draft-cavage, digest checked, within an hour) by a key that its actor owns, or it is refused
// with 401 before any listener sees it. It signs what it sends as Fedify does by default: RFC
// 9421 first, draft-cavage if refused (the "double knock"). The test drives it through /control/*:
//
//   POST /control/follow   {"handle": "blog@host:port"}  WebFinger, fetch the actor, Follow
//   POST /control/unfollow                               Undo the Follow
//   POST /control/post     {"content": "<p>..</p>"}      a public Note to its followers
//   POST /control/reply    {"inReplyTo": uri, "author": actor uri, "content": ".."}
//   POST /control/like     {"object": uri, "author": actor uri}
//   POST /control/announce {"object": uri, "author": actor uri}
//   GET  /control/followers                              who follows "peer" (auto-accepted)
//   GET  /control/received                               activities that passed verification
//   GET  /control/rejected                               inbox requests that were refused
//   GET  /control/schemes                                each inbox POST's signature scheme
//   GET  /control/expanded                               each accepted inbox body, expanded
//   POST /control/lookup   {"url": ".."}                 look a URL up as Mastodon's search does
//
// Every inbox body the peer accepts is also expanded as JSON-LD (jsonld.js, the processor
// Fedify uses) in safe mode, which fails on any property that no context defines, with a
// loader that knows only the contexts Fedify preloads: a document that needs any other remote
// context, or drops a field, is recorded with its error instead.
//
// Usage: PORT=12345 node peer.mjs   (prints "peer listening on <origin>" when ready)

import http from "node:http";
import jsonld from "jsonld";
import { randomUUID } from "node:crypto";
import {
  createFederation,
  generateCryptoKeyPair,
  MemoryKvStore,
  preloadedContexts,
} from "@fedify/fedify";
import {
  Accept,
  Announce,
  Create,
  Delete,
  Endpoints,
  Follow,
  isActor,
  Like,
  Mention,
  Note,
  Person,
  PUBLIC_COLLECTION,
  Undo,
  Update,
} from "@fedify/vocab";

const port = Number(process.env.PORT ?? "0");
const origin = `http://127.0.0.1:${port}`;

const federation = createFederation({
  kv: new MemoryKvStore(),
  // The Rose Ash apps under test listen on loopback: allow private addresses (tests only).
  allowPrivateAddress: true,
});

const keyPairs = [await generateCryptoKeyPair("RSASSA-PKCS1-v1_5")];
const received = [];
const rejected = [];
const schemes = [];
const expanded = [];

async function offlineContexts(url) {
  const document = preloadedContexts[url];
  if (document == null) throw new Error(`would fetch the remote context ${url}`);
  return { contextUrl: null, documentUrl: url, document };
}

async function expand(body) {
  let doc;
  try {
    doc = JSON.parse(body);
    const [node] = await jsonld.expand(doc, { documentLoader: offlineContexts, safe: true });
    expanded.push({ id: doc.id ?? null, type: doc.type ?? null, expanded: node });
  } catch (error) {
    expanded.push({ id: doc?.id ?? null, type: doc?.type ?? null, error: String(error) });
  }
}
const state = { target: null, follow: null };
// Accounts following "peer": every Follow is accepted at once.
const followers = new Map();

federation
  .setActorDispatcher("/users/{identifier}", async (ctx, identifier) => {
    if (identifier !== "peer") return null;
    const keys = await ctx.getActorKeyPairs(identifier);
    return new Person({
      id: ctx.getActorUri(identifier),
      preferredUsername: identifier,
      name: "Interop peer",
      inbox: ctx.getInboxUri(identifier),
      endpoints: new Endpoints({ sharedInbox: ctx.getInboxUri() }),
      publicKey: keys[0].cryptographicKey,
      assertionMethods: keys.map((k) => k.multikey),
    });
  })
  .setKeyPairsDispatcher(async (_ctx, identifier) =>
    identifier === "peer" ? keyPairs : []
  );

async function record(ctx, activity) {
  const json = await activity.toJsonLd({ format: "compact", contextLoader: ctx.contextLoader });
  let object = null;
  try {
    const obj = await activity.getObject({ documentLoader: ctx.documentLoader });
    if (obj != null) object = await obj.toJsonLd({ format: "compact", contextLoader: ctx.contextLoader });
  } catch (e) {
    object = { error: String(e) };
  }
  received.push({
    type: json.type,
    id: activity.id?.href ?? null,
    actor: activity.actorId?.href ?? null,
    json,
    object,
  });
}

federation
  .setInboxListeners("/users/{identifier}/inbox", "/inbox")
  .on(Accept, record)
  .on(Create, record)
  .on(Update, record)
  .on(Delete, record)
  .on(Undo, record)
  .on(Follow, async (ctx, follow) => {
    await record(ctx, follow);
    const follower = await follow.getActor({ documentLoader: ctx.documentLoader });
    if (follower == null || follow.id == null) return;
    followers.set(follower.id.href, follower);
    await ctx.sendActivity(
      { identifier: "peer" },
      follower,
      new Accept({
        id: new URL(`${origin}/accepts/${randomUUID()}`),
        actor: ctx.getActorUri("peer"),
        object: follow,
      }),
    );
  })
  .onError((_ctx, error) => {
    console.error("inbox listener error:", error);
  });

function json(body, status = 200) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json" },
  });
}

async function control(request, url) {
  const ctx = federation.createContext(new URL(origin), undefined);
  if (url.pathname === "/control/follow" && request.method === "POST") {
    const { handle } = await request.json();
    const target = await ctx.lookupObject(handle);
    if (target == null || !isActor(target)) {
      return json({ error: `could not look up ${handle}` }, 404);
    }
    const follow = new Follow({
      id: new URL(`${origin}/follows/${randomUUID()}`),
      actor: ctx.getActorUri("peer"),
      object: target.id,
    });
    await ctx.sendActivity({ identifier: "peer" }, target, follow);
    state.target = target;
    state.follow = follow;
    return json({
      actor: target.id.href,
      preferredUsername: target.preferredUsername?.toString() ?? null,
      inbox: target.inboxId?.href ?? null,
      sharedInbox: target.endpoints?.sharedInbox?.href ?? null,
      follow: follow.id.href,
    });
  }
  if (url.pathname === "/control/unfollow" && request.method === "POST") {
    if (state.follow == null) return json({ error: "not following" }, 409);
    const undo = new Undo({
      id: new URL(`${origin}/undo/${randomUUID()}`),
      actor: ctx.getActorUri("peer"),
      object: state.follow,
    });
    await ctx.sendActivity({ identifier: "peer" }, state.target, undo);
    state.follow = null;
    return json({ undo: undo.id.href });
  }
  if (url.pathname === "/control/post" && request.method === "POST") {
    const { content } = await request.json();
    const note = new Note({
      id: new URL(`${origin}/notes/${randomUUID()}`),
      attribution: ctx.getActorUri("peer"),
      content,
      to: PUBLIC_COLLECTION,
      ccs: [new URL(`${origin}/users/peer/followers`)],
    });
    const create = new Create({
      id: new URL(`${origin}/creates/${randomUUID()}`),
      actor: ctx.getActorUri("peer"),
      object: note,
      to: PUBLIC_COLLECTION,
      ccs: [new URL(`${origin}/users/peer/followers`)],
    });
    const recipients = [...followers.values()];
    if (recipients.length > 0) {
      await ctx.sendActivity({ identifier: "peer" }, recipients, create);
    }
    return json({ note: note.id.href, create: create.id.href, recipients: recipients.length });
  }
  if (
    ["/control/reply", "/control/like", "/control/announce"].includes(url.pathname) &&
    request.method === "POST"
  ) {
    const body = await request.json();
    const author = await ctx.lookupObject(body.author);
    if (author == null || !isActor(author)) {
      return json({ error: `could not look up ${body.author}` }, 404);
    }
    const me = ctx.getActorUri("peer");
    let activity;
    if (url.pathname === "/control/reply") {
      const note = new Note({
        id: new URL(`${origin}/notes/${randomUUID()}`),
        attribution: me,
        content: body.content,
        replyTarget: new URL(body.inReplyTo),
        to: PUBLIC_COLLECTION,
        ccs: [author.id],
        tags: [new Mention({ href: author.id, name: `@${author.preferredUsername}` })],
      });
      activity = new Create({
        id: new URL(`${origin}/creates/${randomUUID()}`),
        actor: me,
        object: note,
        to: PUBLIC_COLLECTION,
        ccs: [author.id],
      });
    } else if (url.pathname === "/control/like") {
      activity = new Like({
        id: new URL(`${origin}/likes/${randomUUID()}`),
        actor: me,
        object: new URL(body.object),
        to: author.id,
      });
    } else {
      activity = new Announce({
        id: new URL(`${origin}/announces/${randomUUID()}`),
        actor: me,
        object: new URL(body.object),
        to: PUBLIC_COLLECTION,
        ccs: [author.id],
      });
    }
    await ctx.sendActivity({ identifier: "peer" }, author, activity);
    return json({ id: activity.id.href });
  }
  if (url.pathname === "/control/lookup" && request.method === "POST") {
    const { url: target } = await request.json();
    const found = await ctx.lookupObject(target);
    if (found == null) return json({ error: `could not look up ${target}` }, 404);
    return json(await found.toJsonLd({ format: "compact", contextLoader: ctx.contextLoader }));
  }
  if (url.pathname === "/control/followers") return json([...followers.keys()]);
  if (url.pathname === "/control/received") return json(received);
  if (url.pathname === "/control/rejected") return json(rejected);
  if (url.pathname === "/control/schemes") return json(schemes);
  if (url.pathname === "/control/expanded") return json(expanded);
  return json({ error: "no such control" }, 404);
}

const server = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, origin);
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const body = Buffer.concat(chunks);
    const headers = new Headers();
    for (const [name, value] of Object.entries(req.headers)) {
      headers.set(name, Array.isArray(value) ? value.join(", ") : value);
    }
    const request = new Request(url, {
      method: req.method,
      headers,
      body: req.method === "GET" || req.method === "HEAD" ? undefined : body,
    });
    let response;
    if (url.pathname.startsWith("/control/")) {
      response = await control(request, url);
    } else {
      response = await federation.fetch(request, {
        contextData: undefined,
        onNotFound: () => new Response("Not found", { status: 404 }),
        onNotAcceptable: () => new Response("Not acceptable", { status: 406 }),
      });
      if (req.method === "POST") {
        schemes.push({
          path: url.pathname,
          scheme: headers.has("signature-input") ? "rfc9421" : "draft-cavage",
          status: response.status,
        });
      }
      if (req.method === "POST" && response.status >= 400) {
        rejected.push({
          path: url.pathname,
          status: response.status,
          body: await response.clone().text(),
        });
      } else if (req.method === "POST") {
        await expand(body.toString("utf8"));
      }
    }
    res.writeHead(response.status, Object.fromEntries(response.headers));
    res.end(Buffer.from(await response.arrayBuffer()));
  } catch (error) {
    console.error("peer error:", error);
    res.writeHead(500, { "Content-Type": "text/plain" });
    res.end(String(error?.stack ?? error));
  }
});

server.listen(port, "127.0.0.1", () => {
  console.log(`peer listening on ${origin}`);
});
