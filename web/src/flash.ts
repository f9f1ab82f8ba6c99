/**
 * One message carried across a navigation ("Account created, now sign in"), kept in sessionStorage
 * so it also survives the full reload a sign-out may cause, and shown once.
 */
const KEY = 'carbelsad.flash'

export function setFlash(message: string) {
  sessionStorage.setItem(KEY, message)
}

export function takeFlash(): string {
  const message = sessionStorage.getItem(KEY) ?? ''
  sessionStorage.removeItem(KEY)
  return message
}
