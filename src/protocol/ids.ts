/**
 * Protocol ids of the registry's wire protocol (SPEC §3).
 *
 * @module
 */

/** `/add/0.1`: register or replace a service. */
export const ADD_PROTOCOL = "/add/0.1";
/** `/get/0.1`: look up one service. */
export const GET_PROTOCOL = "/get/0.1";
/** `/list/0.1`: every service. */
export const LIST_PROTOCOL = "/list/0.1";
/** `/delete/0.1`: remove a service. */
export const DELETE_PROTOCOL = "/delete/0.1";
/** `/memberadd/0.1`: add an etcd member to the registry's cluster. */
export const MEMBER_ADD_PROTOCOL = "/memberadd/0.1";
/** `/join/0.2`: join the registry; the answer gives the role (etcd member or client instance). */
export const JOIN_PROTOCOL = "/join/0.2";
/** `/members/0.1`: the registry's instances with their role and etcd member. */
export const MEMBERS_PROTOCOL = "/members/0.1";
/** `/history/0.1`: the recorded versions of one service, newest first. */
export const HISTORY_PROTOCOL = "/history/0.1";
/** `/rollback/0.1`: write an earlier version of a service again. */
export const ROLLBACK_PROTOCOL = "/rollback/0.1";
/** `/chown/0.1`: give a service to another owner. */
export const CHOWN_PROTOCOL = "/chown/0.1";
/** `/watch/0.1`: a stream of changes, one JSON line each, that stays open. */
export const WATCH_PROTOCOL = "/watch/0.1";

/** Every protocol a registry-service answers. */
export const REGISTRY_PROTOCOLS: readonly string[] = [
  ADD_PROTOCOL,
  GET_PROTOCOL,
  LIST_PROTOCOL,
  DELETE_PROTOCOL,
  MEMBER_ADD_PROTOCOL,
  JOIN_PROTOCOL,
  MEMBERS_PROTOCOL,
  HISTORY_PROTOCOL,
  ROLLBACK_PROTOCOL,
  CHOWN_PROTOCOL,
  WATCH_PROTOCOL,
];

/** The rendezvous string a registry-service advertises in the DHT. */
export const RENDEZVOUS = "registry-service";
