// CloudFront Function (cloudfront-js-2.0), viewer request, on every behaviour: the internet reaches the inference
// API and nothing else. Admin addresses reach everything; Grafana addresses reach /grafana. The lists are filled in
// by components/cdn.py. Paths are judged as the origin will route them: percent-decoded, case-sensitive.
var ADMIN_CIDRS = __ADMIN_CIDRS__;
var GRAFANA_CIDRS = __GRAFANA_CIDRS__;
// [method, pattern over the decoded path] pairs, from components/edge/public_api.py.
var PUBLIC = __PUBLIC_ROUTES__.map(function (route) { return [route[0], new RegExp(route[1])]; });
var GRAFANA = /^\/grafana(\/.*)?$/;

function ipv4(text) {
    var parts = text.split('.');
    if (parts.length !== 4) return null;
    var groups = [];
    for (var i = 0; i < 4; i++) {
        if (!/^\d{1,3}$/.test(parts[i]) || Number(parts[i]) > 255) return null;
        groups.push(Number(parts[i]));
    }
    return {bits: 8, groups: groups};
}

function ipv6(text) {
    if (text.indexOf('::') !== text.lastIndexOf('::')) return null;
    var halves = text.split('::');
    var head = halves[0] ? halves[0].split(':') : [];
    var tail = halves.length > 1 && halves[1] ? halves[1].split(':') : [];
    var missing = 8 - head.length - tail.length;
    if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
    var words = head.slice();
    for (var z = 0; z < missing; z++) words.push('0');
    words = words.concat(tail);
    var groups = [];
    for (var i = 0; i < 8; i++) {
        if (!/^[0-9a-fA-F]{1,4}$/.test(words[i])) return null;
        groups.push(parseInt(words[i], 16));
    }
    return {bits: 16, groups: groups};
}

function address(text) {
    return text.indexOf(':') >= 0 ? ipv6(text) : ipv4(text);
}

function inRange(ip, cidr) {
    var slash = cidr.indexOf('/');
    var net = address(cidr.slice(0, slash));
    var prefix = Number(cidr.slice(slash + 1));
    if (!ip || !net || ip.bits !== net.bits) return false;
    for (var i = 0; i < net.groups.length && prefix > 0; i++) {
        var take = Math.min(prefix, net.bits);
        var mask = ((1 << take) - 1) << (net.bits - take);
        if ((ip.groups[i] & mask) !== (net.groups[i] & mask)) return false;
        prefix -= take;
    }
    return true;
}

function listed(ip, cidrs) {
    for (var i = 0; i < cidrs.length; i++) {
        if (inRange(ip, cidrs[i])) return true;
    }
    return false;
}

function routedPath(uri) {
    try {
        var path = decodeURIComponent(uri);
    } catch (e) {
        return null;
    }
    // Whatever the origin might normalise differently from this function: dot segments, empty segments,
    // backslashes, control characters.
    if (/\/\.|\/\/|\\|[\x00-\x1f\x7f]/.test(path)) return null;
    return path;
}

function isPublic(method, path) {
    for (var i = 0; i < PUBLIC.length; i++) {
        if (PUBLIC[i][0] === method && PUBLIC[i][1].test(path)) return true;
    }
    return false;
}

function forbidden() {
    return {statusCode: 403, statusDescription: 'Forbidden',
            headers: {'content-type': {value: 'text/plain'}, 'cache-control': {value: 'no-store'}},
            body: 'Forbidden'};
}

function handler(event) {
    var request = event.request;
    var ip = address(event.viewer.ip);
    if (listed(ip, ADMIN_CIDRS)) return request;
    var path = routedPath(request.uri);
    if (path === null) return forbidden();
    if (isPublic(request.method, path)) return request;
    if (GRAFANA.test(path) && listed(ip, GRAFANA_CIDRS)) return request;
    return forbidden();
}
