/* adapters/shape.h - Docker's JSON for one container, turned into the shapes
 * controllers consume (spec docker-drydock-edge 4.1, 4.2, 4.3, 5).
 *
 * Pure: no I/O, no allocation, no logging. The inputs are trees from
 * lk_json_parse of one entry of GET /containers/json?all=1 (the "list item")
 * and of GET /containers/{id}/json (the "inspect"); either may be NULL and
 * every field is optional, so a document of any shape yields output of the
 * promised shape (wrong-typed fields read as absent). Output is appended to
 * a bounded struct lk_obuf; a container that does not fit sets its overflow
 * flag like every obuf append, and the caller checks it once at the end.
 *
 * Where the reference (Portwing 0.9.8) and DESIGN.md decision 4 disagree,
 * this module follows DESIGN.md:
 * - status: a paused container is "paused" and a restarting one
 *   "restarting", although Docker sets Running=true for both (the reference
 *   tested Running first and reported both as "running"). Order: Paused,
 *   Restarting, Running, Dead, State.Status "created", else "stopped" - the
 *   order of Docker's own State.StateString().
 * - ports are populated. Source: inspect NetworkSettings.Ports, Docker's
 *   actual host bindings ({"80/tcp": [{"HostIp","HostPort"}] or null for an
 *   exposed, unpublished port}); when there is no inspect or it has no Ports
 *   object, the list item's Ports array ({IP, PrivatePort, PublicPort,
 *   Type}), which carries the same bindings. HostConfig.PortBindings is not
 *   used: it is what was asked for, not what is bound (a stopped container
 *   binds nothing and reports no host ports). A wildcard host address
 *   ("", 0.0.0.0, ::) is left out of the string, and the IPv6 twin that
 *   Docker >= 23 lists beside each IPv4 wildcard binding is dropped, so
 *   "-p 8443:443" is one "8443->443/tcp", as in the spec's test vector. A
 *   non-wildcard IPv6 host address is bracketed: "[::1]:8080->80/tcp".
 * - details.env is always [] (the schema requires the key): environment
 *   values are secrets and never leave the host (the reference shipped them).
 *   The generic shape has no env at all.
 * - watcher is always LK_SHAPE_WATCHER, the one watcher this agent
 *   describes: the reference used the dd.watch label as the watcher name,
 *   but Drydock reads dd.watch as a boolean, so dd.watch=true named a
 *   watcher "true" that no descriptor registers and whose containers no
 *   watcher snapshot prunes. The label still reaches Drydock in labels.
 * - image references pinned by digest are parsed as Docker does
 *   (`nginx@sha256:ab` is nginx, tag latest, digest sha256:ab) instead of
 *   the reference's name "nginx@sha256", tag "ab"; the digest becomes
 *   image.digest.value.
 *
 * Drydock validates each container with Joi, whose strings reject "", so an
 * optional string member is left out rather than sent empty, and a required
 * one always has a value (fallbacks are documented at lk_shape_drydock).
 *
 * Strings are copied through lk_json_put_str: quotes, control characters,
 * `<>&` and invalid UTF-8 are escaped or replaced, so a label can never
 * break the document. */
#ifndef LK_ADAPTERS_SHAPE_H
#define LK_ADAPTERS_SHAPE_H

#include <stddef.h>

#include "core/fwd.h"

/* LK_SHAPE_WATCHER is the type and name of the one watcher descriptor and
 * the watcher of every container (see above). */
#define LK_SHAPE_WATCHER "docker"

/* struct lk_shape_opts describes the agent host; borrowed by the calls. */
struct lk_shape_opts {
	const char *agent_name; /* AGENT_NAME; NULL or "" leaves "agent" out */
	const char *arch;	/* GOARCH spelling (lk_shape_go_arch); NULL or "": build's */
	const char *os;		/* GOOS spelling; NULL or "": "linux" */
};

/* struct lk_shape_ref is a parsed image reference: each part points into
 * the parsed string, or at a static default ("docker.io", "latest"), and
 * is not NUL-terminated. */
struct lk_shape_ref {
	const char *registry; /* never empty: "docker.io" when the ref names none */
	size_t registry_len;
	const char *name; /* empty only when the ref is */
	size_t name_len;
	const char *tag; /* never empty: "latest" when the ref has none */
	size_t tag_len;
	const char *digest; /* "sha256:..." after '@'; digest_len 0 when none */
	size_t digest_len;
};

/* lk_shape_image_ref parses the image reference ref[0..len) (borrowed;
 * out's pointers stay valid as long as ref does) into *out, by the rule of
 * spec 4.1 with digests split off first: everything after the first '@' is
 * the digest; then the tag is what follows the last ':' when that is
 * non-empty and holds no '/' (default "latest"); then, when there is a
 * '/', a first component containing '.' or ':' or equal to "localhost" is
 * the registry and the rest the name, otherwise (and when there is no '/')
 * the registry is "docker.io" and the name is the whole remainder. Names
 * are kept as written: "nginx" stays "nginx", "library/nginx" stays
 * "library/nginx" (spec Appendix B). Never fails. */
void lk_shape_image_ref(const char *ref, size_t len, struct lk_shape_ref *out);

/* lk_shape_go_arch returns Go's GOARCH spelling of a uname(2) machine
 * string: x86_64 -> amd64, aarch64 -> arm64, armv7l and other 32-bit arm ->
 * arm, i686 and other x86 -> 386, loongarch64 -> loong64; ppc64le, ppc64,
 * s390x, riscv64, mips64, mips and names already in Go's spelling map to
 * themselves. An unknown non-empty machine is returned as given (borrowed);
 * NULL or "" returns the architecture this binary was built for. Never
 * returns NULL or "". */
const char *lk_shape_go_arch(const char *machine);

/* lk_shape_status returns the container's status, one of "running",
 * "paused", "restarting", "dead", "created", "stopped" (static strings):
 * from the inspect's State when it has one, by the order above; else from
 * the list item's State word (the same words, anything else "stopped");
 * "stopped" when neither says anything. */
const char *lk_shape_status(const struct lk_jval *inspect, const struct lk_jval *list_item);

/* lk_shape_drydock appends the Drydock wire container (spec 4.2) for one
 * container: an object with id, name, displayName, displayIcon?, status,
 * health? (only starting|healthy|unhealthy), watcher, agent?, image{id,
 * registry{name:"unknown", url}, name, tag{value, semver:false},
 * digest{watch:false, value?}, architecture, os},
 * updateAvailable:false, updateKind{kind:"unknown"}, includeTags?,
 * excludeTags?, transformTags?, labels{}, details{ports[], volumes[], env[],
 * startedAt?}. `?` members are omitted when empty.
 *
 * Sources: id from inspect Id, else list Id. name = inspect Name without its
 * leading '/', else the list's first name, else the first 12 characters of
 * the id. labels = inspect Config.Labels, else list Labels, else {}, with
 * its string members only (Docker's labels are strings); from them
 * dd.display.name (displayName, default name), dd.display.icon,
 * dd.tag.include, dd.tag.exclude, dd.tag.transform. image.id = list
 * ImageID, else inspect Image, else "unknown"; the reference parsed is
 * inspect Config.Image, else list Image; an empty name becomes "unknown".
 * There is no image.created: the reference sent the container's creation
 * time there, and Drydock compares image.created with the registry's date
 * of the image it found (result.created, which it keeps across our
 * updates), so every container would show an update; the image's own date
 * needs an image inspect this module does not get. architecture and os
 * are the agent host's (o). health from inspect State.Health.Status, or
 * without an inspect from the "(healthy)", "(unhealthy)" or "(health:
 * starting)" Docker writes into the list item's Status text. Volumes are
 * "<source>:<destination>" plus ":ro" when not RW, from inspect Mounts else
 * list Mounts; source falls back to the volume Name, and a mount with
 * neither (tmpfs) is just "<destination>". startedAt is inspect
 * State.StartedAt, left out for the zero time of a never-started container.
 *
 * Returns 0, or -EINVAL when neither document has a non-empty string Id
 * (nothing is appended: a container without an id cannot be valid).
 * Borrows everything; b's overflow flag reports a short buffer. */
int lk_shape_drydock(struct lk_obuf *b, const struct lk_jval *list_item,
		     const struct lk_jval *inspect, const struct lk_shape_opts *o);

/* lk_shape_generic appends the generic adapter's container (spec 5: the
 * internal shape of 4.1): id, name, displayName (= name: the generic
 * adapter parses no labels), status, watcher, agent?, image{id, registry,
 * name, tag, digest?, created?} (plain strings; created is the
 * container's, inspect Created else the list's Unix seconds as RFC 3339,
 * as in the reference), updateAvailable:false,
 * updateKind:"unknown", labels? (non-empty only), details?{platform?,
 * command? (Config.Cmd joined by spaces, else the list's Command),
 * ports?[{container, host?, protocol, ip?}] (numbers for ports; same source
 * and wildcard rules as above), network?[{name, ipAddress?, gateway?}]
 * (NetworkSettings.Networks in document order), volumes?[{type, source,
 * destination, readOnly}], created?, started?, health?}. No env. Same
 * sources, return values and ownership as lk_shape_drydock. */
int lk_shape_generic(struct lk_obuf *b, const struct lk_jval *list_item,
		     const struct lk_jval *inspect, const struct lk_shape_opts *o);

/* lk_shape_watcher appends the one watcher descriptor (spec 4.3 with the
 * HEAD keys that hand watching to the controller, 7.2): {"type":"docker",
 * "name":"docker","configuration":{"description":...,"capabilities":
 * ["container-sync","labels"],"transport":"docker-api","execution":
 * "controller","events":"portwing"}}. It is the `watcher` of
 * dd:watcher-snapshot and the answer of GET /api/watchers/docker/docker. */
void lk_shape_watcher(struct lk_obuf *b);

/* lk_shape_watchers appends the GET /api/watchers array (and the
 * `watchers` of dd:component_sync): [lk_shape_watcher]. */
void lk_shape_watchers(struct lk_obuf *b);

/* lk_shape_triggers appends the GET /api/triggers array: always [] (the
 * controller registers its own update trigger for a controller-transport
 * watcher). */
void lk_shape_triggers(struct lk_obuf *b);

#endif /* LK_ADAPTERS_SHAPE_H */
